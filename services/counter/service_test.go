package counter

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// fakeHost records what the service sends and fails sends on request.
type fakeHost struct {
	live    []p2p.Neighbour
	sendErr error
	sent    []sent
}

type sent struct {
	to      packet.Dir
	payload []byte
}

func (f *fakeHost) Send(to packet.Dir, p []byte) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent = append(f.sent, sent{to, append([]byte(nil), p...)})
	return nil
}
func (f *fakeHost) Broadcast(p []byte) []packet.Dir { panic("not used") }
func (f *fakeHost) Room(packet.Dir) int             { return 1 }
func (f *fakeHost) Drained() <-chan struct{}        { return nil }
func (f *fakeHost) Neighbours() []p2p.Neighbour     { return f.live }
func (f *fakeHost) Neighbour(d packet.Dir) (p2p.Neighbour, bool) {
	return p2p.FindNeighbour(f.Neighbours(), d)
}
func (f *fakeHost) Self() p2p.TileID     { return p2p.TileID{1} }
func (f *fakeHost) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestService(t *testing.T) *Service {
	t.Helper()
	s, err := New(DefaultConfig(), Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewResolvesConfig(t *testing.T) {
	cfg, opt := DefaultConfig(), Options{StateDir: "/state"}
	s, err := New(cfg, opt)
	if err != nil || s.path != "/state/counter" || s.interval != time.Minute {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	cfg.Path = "/elsewhere/n"
	if s, _ := New(cfg, opt); s.path != "/elsewhere/n" {
		t.Fatalf("configured path: %q", s.path)
	}
	cfg.Interval = 0
	if _, err := New(cfg, opt); err == nil {
		t.Fatal("interval 0 accepted")
	}
}

func TestAdvertiseWithoutValueSendsNothing(t *testing.T) {
	s := newTestService(t)
	h := &fakeHost{live: []p2p.Neighbour{{Dir: packet.ET}, {Dir: packet.NW}}}
	s.advertise(h)
	if len(h.sent) != 0 {
		t.Fatalf("sent %v without a value", h.sent)
	}
	s.value, s.hasValue = 3, true
	s.advertise(h)
	want := AppendValue(nil, 3)
	if len(h.sent) != 2 || h.sent[0].to != packet.ET || h.sent[1].to != packet.NW ||
		!bytes.Equal(h.sent[0].payload, want) || !bytes.Equal(h.sent[1].payload, want) {
		t.Fatalf("sent %v", h.sent)
	}
	if s.counts.Sent != 2 {
		t.Fatalf("counted %d sent", s.counts.Sent)
	}
}

func TestFullQueueIsCountedNotRetried(t *testing.T) {
	s := newTestService(t)
	s.value, s.hasValue = 3, true
	h := &fakeHost{live: []p2p.Neighbour{{Dir: packet.ET}}, sendErr: p2p.ErrQueueFull}
	s.advertise(h)
	h.sendErr = p2p.ErrNotLive
	s.advertise(h)
	if s.counts.QueueFull != 1 || s.counts.Sent != 0 {
		t.Fatalf("counts %+v, want one queue_full", s.counts)
	}
}

func TestConnectSendsValueAndAskDisconnectForgets(t *testing.T) {
	s := newTestService(t)
	h := &fakeHost{}
	// Without a value, a connect only asks.
	s.neighbourEvent(h, p2p.Event{Kind: packet.EventConnect, Dir: packet.SW})
	if len(h.sent) != 1 || !bytes.Equal(h.sent[0].payload, askPayload) {
		t.Fatalf("sent %v", h.sent)
	}
	h.sent = nil
	s.value, s.hasValue = -2, true
	s.neighbourEvent(h, p2p.Event{Kind: packet.EventConnect, Dir: packet.SW})
	if len(h.sent) != 2 || !bytes.Equal(h.sent[0].payload, AppendValue(nil, -2)) || !bytes.Equal(h.sent[1].payload, askPayload) {
		t.Fatalf("sent %v", h.sent)
	}

	s.heard[packet.SW] = &neighbourValue{value: 8, at: time.Now()}
	s.heard[packet.ET] = &neighbourValue{value: 9, at: time.Now()}
	s.neighbourEvent(h, p2p.Event{Kind: packet.EventDisconnect, Dir: packet.SW})
	st := s.Snapshot()
	if len(st.Neighbours) != 1 || st.Neighbours[0].Dir != packet.ET || st.Neighbours[0].Value != 9 {
		t.Fatalf("after disconnect: %+v", st.Neighbours)
	}
}

// With no inotify instance left the service looks at its file every
// second: a value written is still taken, and a file rewritten with the
// same value is not read again (nothing logged or counted twice).
func TestNoWatchLooksAtTheFile(t *testing.T) {
	s := newTestService(t)
	s.newWatcher = func() (*fsnotify.Watcher, error) { return nil, syscall.EMFILE }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, &fakeHost{}, p2p.Inbox{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	for _, v := range []int64{7, -3} {
		if err := os.WriteFile(s.path, []byte(strconv.FormatInt(v, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for st := s.Snapshot(); st.Value == nil || *st.Value != v; st = s.Snapshot() {
			if time.Now().After(deadline) {
				t.Fatalf("value %d not taken within 10 s without a watch", v)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.WriteFile(s.path, []byte("bad"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for s.Snapshot().BadContent == 0 {
		if time.Now().After(deadline) {
			t.Fatal("bad content not seen within 10 s without a watch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * pollEvery) // polls that find the file unchanged
	if n := s.Snapshot().BadContent; n != 1 {
		t.Fatalf("bad content counted %d times for one write", n)
	}
}

// A file caught empty (between the truncation and the bytes of a write)
// is no bad content, and the same bad content read twice in a row counts
// once: the reads a racing write causes count nothing extra.
func TestReloadCountsBadContentOnce(t *testing.T) {
	s := newTestService(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, step := range []struct {
		content string
		bad     uint64
		problem string
	}{
		{"bad", 1, `"bad" is not a whole number`},
		{"bad", 1, `"bad" is not a whole number`},
		{"", 1, "file empty"},
		{" \n", 1, "file empty"},
		{"bad", 2, `"bad" is not a whole number`},
		{"42\n", 2, ""},
		{"bad", 3, `"bad" is not a whole number`},
	} {
		if err := os.WriteFile(s.path, []byte(step.content), 0o644); err != nil {
			t.Fatal(err)
		}
		s.reload(log)
		st := s.Snapshot()
		if st.BadContent != step.bad || s.problem != step.problem {
			t.Fatalf("after %q: bad_content %d, problem %q; want %d, %q", step.content, st.BadContent, s.problem, step.bad, step.problem)
		}
	}
	if st := s.Snapshot(); st.Value == nil || *st.Value != 42 {
		t.Fatalf("value %v, want the last good one, 42", st.Value)
	}
}
