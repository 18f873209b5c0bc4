package packet

// Error is a reason a packet is malformed. Every error Decode and the
// encoders return is one of the values below, so callers can compare with
// errors.Is and the decode path never allocates, even on garbage.
type Error struct{ msg string }

func (e *Error) Error() string { return "packet: " + e.msg }

// The ways a packet can be malformed.
var (
	ErrEmpty         = &Error{"empty packet (0 bytes): a packet has at least a header byte"}
	ErrTooLong       = &Error{"longer than 255 bytes: split the payload over several packets"}
	ErrShortService  = &Error{"service packet has no service byte (byte 1)"}
	ErrService0      = &Error{"service 0 is null and illegal: use 1..63"}
	ErrBadService    = &Error{"service number out of range: use 1..63"}
	ErrReservedBits  = &Error{"reserved bits RSV1/RSV0 of byte 1 are set: they must be sent as 0"}
	ErrNoLink        = &Error{"routed packet names direction NT or ST, which have no link: use NE ET SE SW WT NW"}
	ErrBadDir        = &Error{"direction out of range: dir8 is 0..7"}
	ErrLocalMFMT     = &Error{"local packet has bit 5 (MFMT) set: local types are 0xC0..0xDF"}
	ErrIllegalLocal  = &Error{"local type 0 (0xC0) is illegal"}
	ErrReservedLocal = &Error{"local type is reserved (0xC5..0xDF): only 0xC1..0xC4 are defined"}
	ErrShortTEP      = &Error{"Tile Event Packet shorter than 3 bytes: want 0xC4 EVENT DIR8"}
	ErrTEPEvent      = &Error{"Tile Event Packet has an illegal or reserved event: want 1 (connect), 2 (disconnect), 3 (MFM-compatible) or 4 (MFM-incompatible)"}
	ErrTEPDir        = &Error{"Tile Event Packet names a direction with no link: use NE ET SE SW WT NW"}
	ErrNotASCII      = &Error{"non-standard packet byte must be 7-bit ASCII (0x00..0x7F)"}
	ErrKind          = &Error{"invalid packet kind"}
)
