package tubes

import (
	"context"
	"sort"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/routes"
)

// Status is the tube service's section of `itcd status`.
type Status struct {
	Tubes    []TubeStatus `json:"tubes"`
	Accepts  []uint16     `json:"accepting_ports,omitempty"`
	Counters Counters     `json:"counters"`
}

// TubeStatus describes one tube.
type TubeStatus struct {
	ID          uint16     `json:"id"`
	Dir         packet.Dir `json:"dir"`               // the link; by routes, the first link of Route
	Route       string     `json:"route,omitempty"`   // by routes: the path its messages other than data take, as ET,ET,SE
	Stripes     []string   `json:"stripes,omitempty"` // by routes: the paths its data is striped over
	Tile        string     `json:"tile"`
	LocalPort   uint16     `json:"local_port"`
	RemotePort  uint16     `json:"remote_port"`
	Kind        string     `json:"kind"`
	Opener      bool       `json:"opener"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	BytesOut    uint64     `json:"bytes_out"` // handed over by the program
	BytesIn     uint64     `json:"bytes_in"`  // arrived in order
	MsgsOut     uint64     `json:"messages_out,omitempty"`
	MsgsIn      uint64     `json:"messages_in,omitempty"`
	Received    uint64     `json:"received"`   // messages (or bytes) the far itcd holds
	Delivered   uint64     `json:"delivered"`  // messages (or bytes) the far program read
	InFlight    int        `json:"in_flight"`  // bytes sent and unacknowledged
	Queued      int        `json:"queued"`     // bytes held from the program, sent or not
	Window      int        `json:"window"`     // bytes the far side lets us send now
	ToProgram   int        `json:"to_program"` // bytes waiting to be written to the program
	Retransmits uint64     `json:"retransmits"`
	RTTms       float64    `json:"rtt_ms"`
	RateOut     float64    `json:"rate_out_bps"` // bytes per second, over the tube's life
	RateIn      float64    `json:"rate_in_bps"`
	AgeS        float64    `json:"age_s"`
}

// Counters count what happened since the service started.
type Counters struct {
	PacketsOut uint64 `json:"packets_out"`
	DataOut    uint64 `json:"data_out"`
	AcksOut    uint64 `json:"acks_out"`
	QueueFull  uint64 `json:"queue_full"`
	Timeouts   uint64 `json:"timeouts"`
	Lost       uint64 `json:"lost"` // segments found lost by a later one acknowledged
	Closed     uint64 `json:"closed"`
	Failed     uint64 `json:"failed"`
	Refused    uint64 `json:"refused"`    // OPENs turned away or not kept
	Unknown    uint64 `json:"unknown"`    // packets for tubes this tile does not hold
	FinalAcks  uint64 `json:"final_acks"` // repeats of tubes closed cleanly, answered with their final ACK
	CRCErrors  uint64 `json:"crc_errors"`
	Malformed  uint64 `json:"malformed"`
	BadAcks    uint64 `json:"bad_acks"`
	// DupData counts DATA segments that came again or contradict the
	// stream's end; BeyondWindow the bytes that came past the window
	// offered (dropped).
	DupData      uint64 `json:"dup_data"`
	BeyondWindow uint64 `json:"beyond_window_bytes"`
	HeldFull     uint64 `json:"held_full"` // segments dropped: too many held beyond holes
	NotLive      uint64 `json:"not_live"`
	// By routes: messages that arrived here at the end of their path,
	// packets sent on to their next link and those dropped (no live next
	// link, or its queue full: the neighbour with the most in it loses
	// one), and tubes moved to another path.
	RoutedIn    uint64 `json:"routed_in"`
	Forwarded   uint64 `json:"forwarded"`
	FwdDropped  uint64 `json:"forward_dropped"`
	PathChanges uint64 `json:"path_changes"`
	// CEMarked counts packets this tile marked as it forwarded them, its
	// queue for their next link building; CEEchoed the echoes of marks
	// that slowed a tube of this tile.
	CEMarked uint64 `json:"ce_marked"`
	CEEchoed uint64 `json:"ce_echoed"`
	Wakeups  uint64 `json:"timer_wakeups"` // times the service's timer fired: none while every tube is idle
}

// Status implements p2p.StatusReporter: asked of the service's goroutine,
// so it is exact; empty if the service does not answer within a second.
func (s *Service) Status() any {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := make(chan Status, 1)
	select {
	case s.statusReq <- r:
	case <-ctx.Done():
		return Status{}
	}
	select {
	case st := <-r:
		return st
	case <-ctx.Done():
		return Status{}
	}
}

func (s *Service) status() Status {
	st := Status{Counters: s.counters, Tubes: []TubeStatus{}}
	for _, t := range s.tubes {
		age := s.now.Sub(t.started).Seconds()
		ts := TubeStatus{
			ID: t.id, Dir: t.dir, Tile: t.tile.String(), LocalPort: t.localPort, RemotePort: t.remotePort,
			Kind: kindName(t.kind), Opener: t.opener, State: t.st.String(), Reason: t.reason,
			BytesOut: t.bytesOut, BytesIn: t.bytesIn, Received: t.received, Delivered: t.delivered,
			InFlight: int(t.snd.nxt - t.snd.una), Queued: t.snd.queued(), Retransmits: t.snd.retransmits,
			RTTms: float64(t.snd.rtt.SRTT) / float64(time.Millisecond), AgeS: age,
			ToProgram: t.toProgram,
		}
		if p := t.primary(); t.dir == viaRoutes && p != nil {
			ts.Dir = p[0]
			ts.Route = routes.FormatRoute(p)
			for _, p := range t.paths[:t.stripe] {
				ts.Stripes = append(ts.Stripes, routes.FormatRoute(p))
			}
		}
		if seqLT(t.snd.nxt, t.snd.limit) {
			ts.Window = int(t.snd.limit - t.snd.nxt)
		}
		if t.kind == KindMessage {
			ts.MsgsOut, ts.MsgsIn = t.sent, t.given
		}
		if age > 0 {
			ts.RateOut, ts.RateIn = float64(t.bytesOut)/age, float64(t.bytesIn)/age
		}
		st.Tubes = append(st.Tubes, ts)
	}
	sort.Slice(st.Tubes, func(i, j int) bool { return st.Tubes[i].ID < st.Tubes[j].ID })
	for p := range s.accepts {
		st.Accepts = append(st.Accepts, p)
	}
	sort.Slice(st.Accepts, func(i, j int) bool { return st.Accepts[i] < st.Accepts[j] })
	return st
}
