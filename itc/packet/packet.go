package packet

// MaxLen is the largest packet an ITC link carries, header included.
const MaxLen = 255

// Bits of byte 0.
const (
	BitSTND  = 0x80 // standard packet
	BitLOCL  = 0x40 // local (not routed) packet
	BitMFMT  = 0x20 // MFM traffic (routed packets)
	BitOVRN  = 0x10 // overrun seen by the link layer (routed packets)
	BitEROR  = 0x08 // error seen by the link layer (routed packets)
	MaskDir  = 0x07 // dir8 of routed packets
	MaskType = 0x1F // local type of local packets
)

// Bits of byte 1 of a service packet.
const (
	MaskReserved = 0xC0 // RSV1 RSV0: sent as 0
	MaskService  = 0x3F // SVC5..SVC0
)

// Header sizes: what comes before Payload for each kind.
const (
	MFMHeaderLen     = 1
	ServiceHeaderLen = 2
	LocalHeaderLen   = 1
	TEPHeaderLen     = 3
)

// MaxServicePayload is the most payload one service packet carries.
const MaxServicePayload = MaxLen - ServiceHeaderLen

// Kind is the class of a packet, from the STND, LOCL and MFMT bits.
type Kind uint8

const (
	KindInvalid     Kind = iota
	KindNonStandard      // STND=0: an ASCII byte from the PRU
	KindMFM              // STND=1 LOCL=0 MFMT=1: MFM traffic for mfmt2
	KindService          // STND=1 LOCL=0 MFMT=0: peer-to-peer service traffic
	KindLocal            // STND=1 LOCL=1: local packet, typed
)

var kindNames = [...]string{"invalid", "nonstandard", "mfm", "service", "local"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// MarshalText prints the kind by name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Service is a peer-to-peer service number, 1..63. Service 0 is illegal.
type Service uint8

// MaxService is the largest service number.
const MaxService Service = 63

// Well-known services.
const (
	ServiceLiveness Service = 1  // daemon hellos: identity, version, services
	ServiceCounter  Service = 2  // the counter service
	ServiceMFZ      Service = 8  // signed MFZ file distribution
	ServiceTube     Service = 9  // tubes: reliable streams and messages between neighbours
	ServiceRoute    Service = 10 // routes: link-state flooding, a route to every tile
)

// LocalType is the type of a local packet, its low five bits.
type LocalType uint8

// Local types. 5..31 are reserved.
const (
	LocalIllegal  LocalType = 0 // 0xC0: never valid
	LocalDebug    LocalType = 1 // 0xC1: debug value
	LocalLabelled LocalType = 2 // 0xC2: labelled debug value
	LocalControl  LocalType = 3 // 0xC3: control/status from the PRU
	LocalTEP      LocalType = 4 // 0xC4: Tile Event Packet
)

var localNames = [...]string{"illegal", "debug", "labelled", "control", "tep"}

func (t LocalType) String() string {
	if int(t) < len(localNames) {
		return localNames[t]
	}
	return "reserved"
}

// Byte 1 of a LocalControl packet from the PRU.
const (
	ControlLinkUp       = 'P' // link synchronised
	ControlFramingError = 'F' // framing error: link down
	ControlTimeout      = 'T' // timeout: link down
)

// Event is the event code of a Tile Event Packet.
type Event uint8

// TEP events. 0 is illegal, 5..255 reserved.
const (
	EventConnect    Event = 1 // the tile at the far end of a link appeared
	EventDisconnect Event = 2 // it went away
	// EventMFMCompatible: MFM packets now flow on the link (the kernel's
	// status 2: both tiles have the same physics identity).
	EventMFMCompatible Event = 3
	// EventMFMIncompatible: they no longer do (identities differ, or the
	// link went down); MFM packets for it are not sent.
	EventMFMIncompatible Event = 4
)

// MaxEvent is the highest defined TEP event.
const MaxEvent = EventMFMIncompatible

// Valid reports whether e is a defined TEP event.
func (e Event) Valid() bool { return e >= EventConnect && e <= MaxEvent }

func (e Event) String() string {
	switch e {
	case EventConnect:
		return "connect"
	case EventDisconnect:
		return "disconnect"
	case EventMFMCompatible:
		return "mfm_compatible"
	case EventMFMIncompatible:
		return "mfm_incompatible"
	}
	return "illegal"
}

// MarshalText prints the event by name.
func (e Event) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// Packet is a decoded packet. Which fields mean something depends on Kind;
// the others are zero. Payload aliases the buffer it was decoded from.
type Packet struct {
	Kind Kind

	// Routed packets (KindMFM, KindService).
	Dir     Dir     // destination on write, source on read
	Overrun bool    // OVRN: the link layer saw an overrun; the packet is suspect
	Error   bool    // EROR: the link layer saw an error; the packet is suspect
	Service Service // KindService only: 1..63

	// KindLocal.
	Local    LocalType
	Event    Event // LocalTEP only
	EventDir Dir   // LocalTEP only: the link the event is about

	// KindNonStandard: the 7-bit ASCII byte.
	ASCII byte

	// Payload is what follows the header: byte 1 on for MFM, local and
	// non-standard packets, byte 2 on for service packets and byte 3 on
	// (the optional arguments) for a TEP.
	Payload []byte
}

// Suspect reports whether the link layer flagged the packet (OVRN or EROR).
func (p *Packet) Suspect() bool { return p.Overrun || p.Error }
