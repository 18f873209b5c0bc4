package control

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func TestNeighbourStateText(t *testing.T) {
	tests := []struct {
		state NeighbourState
		name  string
	}{
		{Absent, "absent"},
		{LinkUp, "link-up"},
		{Live, "live"},
	}
	for _, tc := range tests {
		if got := tc.state.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.state, got, tc.name)
		}
		b, err := tc.state.MarshalText()
		if err != nil || string(b) != tc.name {
			t.Errorf("%d.MarshalText() = %q, %v; want %q", tc.state, b, err, tc.name)
		}
		var back NeighbourState = 99
		if err := back.UnmarshalText(b); err != nil || back != tc.state {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, back, err, tc.state)
		}
	}
	for _, bad := range []string{"", "Live", "dead", "link_up"} {
		var s NeighbourState
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted as %v", bad, s)
		}
	}
	if _, err := NeighbourState(3).MarshalText(); err == nil {
		t.Error("MarshalText of state 3 did not fail")
	}
	if got := NeighbourState(7).String(); got != "NeighbourState(7)" {
		t.Errorf("String of state 7 = %q", got)
	}
}

// sampleStatus has every field of Status set, for the wire tests.
func sampleStatus() Status {
	tile := p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}
	heard, rtt := 0.5, 12.0
	return Status{
		Tile: tile, Version: 1, Build: "v0.3.0-2-g204e96c", Device: "udp", Uptime: 61.5, RunDir: "/r", StateDir: "/s",
		Links: []LinkStatus{{
			Dir: packet.ET, Link: "mfm", State: Live, Tile: &tile, Since: 3, LastHeard: &heard, RTT: &rtt, Uptime: 9, PeerBuild: "v0.2.0",
			In:      map[string]Count{"mfm": {Packets: 1, Bytes: 2}},
			Out:     map[string]Count{"service": {Packets: 3, Bytes: 4000}},
			Dropped: 5, Unowned: 6, NotLive: 7, Malformed: 8, Suspect: 9, Errors: 10, Hellos: 11, BadHellos: 12, Connects: 13,
			IdentityRefused: 14, MFMCompatible: true, MFMIncompatible: 21,
		}},
		Services:  []ServiceOwner{{Number: 2, Owner: "itcd counter", Dropped: 1}},
		MFMClient: true,
		Sockets:   []SocketStatus{{Name: ControlSocket, Clients: 1, Refused: 2, Evicted: 3}},
		MFMRefuse: 15, SvcRefuse: 16, Malformed: 17, Local: Count{Packets: 18, Bytes: 19},
		LogSuppressed: 20,
		MFZID:         "demo[ab12]", MFZIDFrom: "mfm.sock", MFZIDError: "device busy",
		DeviceStats: &dev.UDPStats{},
		Sections:    map[string]any{"counter": map[string]int{"value": 1}},
	}
}

// The JSON on control.sock is what scripts read: its names do not change.
func TestStatusJSONNames(t *testing.T) {
	b, err := json.Marshal(sampleStatus())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	want := "device device_stats itcd_version links local_in log_suppressed malformed mfm_client mfm_refused mfzid mfzid_error mfzid_from protocol_version run_dir sections service_sock_refused services sockets state_dir tile uptime_s"
	if got := keys(t, top); got != want {
		t.Errorf("status keys:\n got %s\nwant %s", got, want)
	}
	var st struct {
		Links    []map[string]json.RawMessage
		Services []map[string]json.RawMessage
		Sockets  []map[string]json.RawMessage
		Local    map[string]json.RawMessage `json:"local_in"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		obj  map[string]json.RawMessage
		want string
	}{
		{"link", st.Links[0], "bad_hellos connects dir dropped hellos identity_refused in last_heard_s_ago link malformed mfm_compatible mfm_incompatible not_live out peer_itcd_version peer_uptime_s rtt_ms since_s state suspect tile unowned write_errors"},
		{"service", st.Services[0], "dropped number owner"},
		{"socket", st.Sockets[0], "clients evicted_idle name refused"},
		{"count", st.Local, "bytes packets"},
	} {
		if got := keys(t, tc.obj); got != tc.want {
			t.Errorf("%s keys:\n got %s\nwant %s", tc.what, got, tc.want)
		}
	}
	if s := string(st.Links[0]["state"]); s != `"live"` {
		t.Errorf("state on the wire = %s, want \"live\"", s)
	}
	// What a Client decodes is what the daemon sent.
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(b) {
		t.Errorf("round trip changed the status:\n%s\n%s", b, again)
	}
}

func keys(t *testing.T, m map[string]json.RawMessage) string {
	t.Helper()
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// The control requests' own JSON.
func TestRequestResponseJSON(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{Request{Cmd: "status"}, `{"cmd":"status"}`},
		{Request{Cmd: "link", Args: json.RawMessage(`{"dir":"ET"}`)}, `{"cmd":"link","args":{"dir":"ET"}}`},
		{Response{OK: true, Result: json.RawMessage(`"pong"`)}, `{"ok":true,"result":"pong"}`},
		{Response{Error: "no"}, `{"ok":false,"error":"no"}`},
		{LinkArgs{Dir: packet.ET}, `{"dir":"ET"}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}
