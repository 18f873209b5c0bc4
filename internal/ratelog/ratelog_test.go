package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTest(burst int, every time.Duration, kinds int) (*slog.Logger, *Handler, *bytes.Buffer, *fakeClock) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		Config{Burst: burst, Every: every, MaxKinds: kinds, Now: clk.now})
	return slog.New(h), h, &buf, clk
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// A flood of one line passes its burst, then one line an interval, and
// the line that passes after a gap says how many were dropped.
func TestBurstThenTrickleWithCount(t *testing.T) {
	log, h, buf, clk := newTest(3, time.Second, 16)
	for i := 0; i < 1000; i++ {
		log.Warn("hello with a new identity", "dir", "ET")
	}
	if got := len(lines(buf)); got != 3 {
		t.Fatalf("%d lines passed at once, want the burst of 3", got)
	}
	if h.Suppressed() != 997 {
		t.Fatalf("Suppressed() = %d, want 997", h.Suppressed())
	}
	clk.t = clk.t.Add(time.Second)
	log.Warn("hello with a new identity", "dir", "ET")
	l := lines(buf)
	if len(l) != 4 || !strings.Contains(l[3], "suppressed=997") {
		t.Fatalf("line after the gap: %q, want it to carry suppressed=997", l[len(l)-1])
	}
	// The count is reset once reported.
	clk.t = clk.t.Add(time.Second)
	log.Warn("hello with a new identity", "dir", "ET")
	if l := lines(buf); strings.Contains(l[len(l)-1], "suppressed") {
		t.Fatalf("count reported twice: %q", l[len(l)-1])
	}
}

// Kinds are told apart by level, message and dir, also a dir given by
// WithAttrs; derived loggers share one bound.
func TestKindsAreSeparate(t *testing.T) {
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"other dir", func(l *slog.Logger) { l.Warn("m", "dir", "WT") }},
		{"other message", func(l *slog.Logger) { l.Warn("n", "dir", "ET") }},
		{"other level", func(l *slog.Logger) { l.Info("m", "dir", "ET") }},
		{"dir from With", func(l *slog.Logger) { l.With("dir", "NE").Warn("m") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, _, buf, _ := newTest(1, time.Hour, 16)
			log.Warn("m", "dir", "ET")
			log.Warn("m", "dir", "ET") // spent
			c.log(log)
			if got := len(lines(buf)); got != 2 {
				t.Fatalf("%d lines, want 2: a new kind has its own burst", got)
			}
		})
	}
	log, _, buf, _ := newTest(1, time.Hour, 16)
	log.With("service", "x").Warn("m")
	log.WithGroup("g").Warn("m")
	if got := len(lines(buf)); got != 1 {
		t.Fatalf("derived loggers: %d lines, want 1: they share the bound", got)
	}
}

// Past MaxKinds every new kind shares one budget, so varying messages
// cannot grow the table or escape the bound.
func TestMaxKinds(t *testing.T) {
	log, h, buf, _ := newTest(1, time.Hour, 4)
	for i := 0; i < 1000; i++ {
		log.Warn("m" + strings.Repeat("x", i))
	}
	if got := len(lines(buf)); got != 5 {
		t.Fatalf("%d lines, want 4 kinds + 1 from the shared budget", got)
	}
	if len(h.l.buckets) != 4 {
		t.Fatalf("%d kinds tracked, want 4", len(h.l.buckets))
	}
}

// Kinds that have gone quiet make room for new ones.
func TestQuietKindsAreForgotten(t *testing.T) {
	log, h, buf, clk := newTest(2, time.Second, 4)
	for i := 0; i < 4; i++ {
		log.Warn(strings.Repeat("x", i+1))
	}
	clk.t = clk.t.Add(time.Second) // each bucket refills to its burst of 2
	for i := 0; i < 100; i++ {
		log.Warn("new kind")
	}
	if got := len(lines(buf)); got != 6 {
		t.Fatalf("%d lines, want 4 + the new kind's burst of 2", got)
	}
	if len(h.l.buckets) != 1 {
		t.Fatalf("%d kinds tracked, want only the new one", len(h.l.buckets))
	}
}

// Lines an operator asked for pass whole, and touch no bucket.
func TestExempt(t *testing.T) {
	log, h, buf, _ := newTest(1, time.Hour, 4)
	ctx := Exempt(context.Background())
	for i := 0; i < 50; i++ {
		log.InfoContext(ctx, "status line")
	}
	if got := len(lines(buf)); got != 50 || len(h.l.buckets) != 0 {
		t.Fatalf("%d lines and %d kinds, want 50 and 0", got, len(h.l.buckets))
	}
}

// Counts of a kind that went quiet are reported by the next line of any
// kind once FlushEvery has passed, as one summary line.
func TestSummaryOfQuietKinds(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	log := slog.New(New(slog.NewTextHandler(&buf, nil),
		Config{Burst: 1, Every: time.Hour, MaxKinds: 16, FlushEvery: time.Minute, Now: clk.now}))
	for range 50 {
		log.Warn("flood", "link", "ET")
	}
	for range 7 {
		log.Warn("other")
	}
	clk.t = clk.t.Add(time.Minute)
	log.Info("something else")
	l := lines(&buf)
	if len(l) != 4 {
		t.Fatalf("%d lines, want flood, other, the summary and the new line:\n%s", len(l), buf.String())
	}
	if !strings.Contains(l[2], SummaryMessage) || !strings.Contains(l[2], "suppressed=55") ||
		!strings.Contains(l[2], `49 x \"flood\" (ET)`) {
		t.Fatalf("summary %q", l[2])
	}
	// Reported once: the next due summary has nothing to say.
	clk.t = clk.t.Add(time.Minute)
	log.Info("quiet now")
	if got := len(lines(&buf)); got != 5 {
		t.Fatalf("%d lines, want no second summary", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{}, {Burst: 1, Every: time.Second}, {Burst: 1, MaxKinds: 1}, {Every: 1, MaxKinds: 1}} {
		if c.Validate() == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
	if err := (Config{Burst: 1, Every: 1, MaxKinds: 1}).Validate(); err != nil {
		t.Error(err)
	}
}
