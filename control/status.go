package control

import (
	"fmt"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Status is the answer to "status": what `itcd status` shows.
type Status struct {
	Tile      p2p.TileID     `json:"tile"`
	Version   int            `json:"protocol_version"`
	Build     string         `json:"itcd_version"` // this itcd's version, as its hellos carry it
	Device    string         `json:"device"`
	Uptime    float64        `json:"uptime_s"`
	RunDir    string         `json:"run_dir"`
	StateDir  string         `json:"state_dir"`
	Links     []LinkStatus   `json:"links"`
	Services  []ServiceOwner `json:"services"`
	MFMClient bool           `json:"mfm_client"`
	// MFZID is the physics identity the daemon last gave the device, and
	// MFZIDFrom who gave it ("config" or "mfm.sock"; "" when the device
	// takes none). MFZIDError says why the device does not hold it.
	MFZID      string         `json:"mfzid"`
	MFZIDFrom  string         `json:"mfzid_from,omitempty"`
	MFZIDError string         `json:"mfzid_error,omitempty"`
	Sockets    []SocketStatus `json:"sockets"`
	MFMRefuse  uint64         `json:"mfm_refused"`
	SvcRefuse  uint64         `json:"service_sock_refused"`
	Malformed  uint64         `json:"malformed"`
	Local      Count          `json:"local_in"`
	// LogSuppressed counts log lines the rate limit dropped (the daemon's
	// log_burst setting), when the daemon's logger has one.
	LogSuppressed uint64 `json:"log_suppressed"`
	// DeviceStats are the device's own counters, where it keeps any (the
	// UDP device counts datagrams from strangers and ones that do not
	// decode, per-link queue drops and impairments).
	DeviceStats *dev.UDPStats `json:"device_stats,omitempty"`
	// KernelStats are the kernel backend's counters on a real tile:
	// packets read and written per device, and how often the reader
	// woke to poll the devices, which have no poll().
	KernelStats *dev.KernelStats `json:"kernel_stats,omitempty"`
	// Sections are the services' own reports (p2p.StatusReporter), by
	// service name. Decoded by a Client, numbers in them are json.Number.
	Sections map[string]any `json:"sections,omitempty"`
}

// LinkStatus is one direction in Status.
type LinkStatus struct {
	Dir       packet.Dir       `json:"dir"`
	Link      string           `json:"link"`
	State     NeighbourState   `json:"state"`
	Tile      *p2p.TileID      `json:"tile,omitempty"`
	Since     float64          `json:"since_s"`
	LastHeard *float64         `json:"last_heard_s_ago,omitempty"`
	RTT       *float64         `json:"rtt_ms,omitempty"`
	Uptime    uint32           `json:"peer_uptime_s,omitempty"`
	PeerBuild string           `json:"peer_itcd_version,omitempty"` // a live neighbour's itcd version from its hellos, "unknown" (none) or "invalid"
	In        map[string]Count `json:"in"`
	Out       map[string]Count `json:"out"`
	Dropped   uint64           `json:"dropped"`
	Unowned   uint64           `json:"unowned"`
	NotLive   uint64           `json:"not_live"`
	Malformed uint64           `json:"malformed"`
	Suspect   uint64           `json:"suspect"`
	Errors    uint64           `json:"write_errors"`
	Hellos    uint64           `json:"hellos"`
	BadHellos uint64           `json:"bad_hellos"`
	Connects  uint64           `json:"connects"`
	// IdentityRefused counts hellos that claimed another identity sooner
	// than a tile can be replaced (the daemon's identity_hold setting).
	IdentityRefused uint64 `json:"identity_refused"`
	// MFMCompatible: MFM packets flow on the link (the device reads it
	// MFM-compatible and, where both tiles' hellos say their physics
	// identity, they agree). MFMIncompatible counts the MFM packets
	// mfm.sock wrote for the link while it was not, which were not sent.
	MFMCompatible   bool   `json:"mfm_compatible"`
	MFMIncompatible uint64 `json:"mfm_incompatible"`
}

// Count is a number of packets and their bytes.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// ServiceOwner is one owned service number in Status.
type ServiceOwner struct {
	Number  packet.Service `json:"number"`
	Owner   string         `json:"owner"`
	Dropped uint64         `json:"dropped"`
}

// SocketStatus is one local socket in Status.
type SocketStatus struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Refused uint64 `json:"refused"`
	Evicted uint64 `json:"evicted_idle"`
}

// LinkArgs are the arguments of the "link" command: the profile of one
// UDP link, read or (with Profile) changed. Only UDP devices have one.
// The answer is the link's dev.LinkProfile.
type LinkArgs struct {
	Dir     packet.Dir       `json:"dir"`
	Profile *dev.LinkProfile `json:"profile,omitempty"`
}

// NeighbourState is what a daemon knows of the tile at the far end of a
// link, as Status shows it (by name on the wire).
type NeighbourState uint8

const (
	// Absent: the link is down.
	Absent NeighbourState = iota
	// LinkUp: the link is synchronised but no itcd has been heard on it.
	LinkUp
	// Live: the far tile's itcd says hello on the liveness service.
	Live
)

var stateNames = [...]string{"absent", "link-up", "live"}

func (s NeighbourState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("NeighbourState(%d)", uint8(s))
}

// MarshalText prints the state by name.
func (s NeighbourState) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("neighbour state %d: no such state", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads the name MarshalText writes.
func (s *NeighbourState) UnmarshalText(b []byte) error {
	for v := Absent; v <= Live; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("neighbour state %q: want absent, link-up or live", b)
}
