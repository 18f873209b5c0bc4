// Package ratelog bounds how fast log lines can be written.
//
// Much of what itcd logs is caused by someone else: a neighbour that says
// hello with a new identity on every packet, a local program that opens
// sockets in a loop. Without a bound such a peer writes the log as fast as
// it can send, fills the disk and buries every other line. Handler wraps
// any slog.Handler and lets through, for each kind of line, a burst and
// then a steady trickle; the rest are counted, and the next line of that
// kind that passes carries the count as "suppressed".
//
// A kind of line is its level, its message and, when it has one, its "dir"
// or "link" attribute, so a flood on one link does not silence the same
// line about another. A kind that goes quiet would keep its count to
// itself, so at most once a FlushEvery the next line written (of any kind)
// is preceded by one summary of the counts not yet reported. Messages are constants in this code base, so the number of kinds
// is bounded by the code, not by the peer; MaxKinds caps it anyway.
//
// The rejected alternative was a limit on each call site: it has to be
// remembered at every site, and a line added later is unbounded until
// someone notices. Wrapping the tile's one logger bounds every line.
package ratelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config sets the bound. Daemon configuration supplies the values; this
// package has no defaults of its own.
type Config struct {
	// Burst is how many lines of one kind pass at once.
	Burst int
	// Every is how often one more line of a kind may pass once its burst
	// is spent.
	Every time.Duration
	// MaxKinds bounds the kinds tracked; lines of kinds beyond it share
	// one budget.
	MaxKinds int
	// FlushEvery is how often counts not yet reported are written as one
	// summary line; 0 means never.
	FlushEvery time.Duration
	// Now is the clock; nil means time.Now. Tests move their own.
	Now func() time.Time
}

// SuppressedKey is the attribute that carries how many lines of the same
// kind were dropped since the last one that passed.
const SuppressedKey = "suppressed"

// Validate reports a Config that cannot bound anything.
func (c Config) Validate() error {
	if c.Burst < 1 || c.Every <= 0 || c.MaxKinds < 1 {
		return errors.New("ratelog: burst, every and max kinds must all be positive")
	}
	return nil
}

type kind struct {
	level slog.Level
	msg   string
	dir   string
}

// bucket is a token bucket of lines for one kind.
type bucket struct {
	tokens     float64
	last       time.Time
	suppressed uint64
}

type limiter struct {
	cfg Config
	mu  sync.Mutex
	// buckets holds one bucket per kind; overflow serves kinds past
	// MaxKinds.
	buckets   map[kind]*bucket
	overflow  bucket
	dropped   uint64 // every line suppressed, ever
	lastFlush time.Time
}

// SummaryMessage is the message of the line that reports counts of lines
// suppressed and not reported since.
const SummaryMessage = "log lines suppressed by the rate limit"

// pendingLocked takes the counts not yet reported, if a summary is due:
// the total and the kinds with the most.
func (l *limiter) pendingLocked(now time.Time) (total uint64, top string) {
	if l.cfg.FlushEvery <= 0 || now.Sub(l.lastFlush) < l.cfg.FlushEvery {
		return 0, ""
	}
	l.lastFlush = now
	type kc struct {
		k kind
		n uint64
	}
	var all []kc
	for k, b := range l.buckets {
		if b.suppressed > 0 {
			all = append(all, kc{k, b.suppressed})
			total += b.suppressed
			b.suppressed = 0
		}
	}
	if l.overflow.suppressed > 0 {
		all = append(all, kc{kind{msg: "(other kinds)"}, l.overflow.suppressed})
		total += l.overflow.suppressed
		l.overflow.suppressed = 0
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var b strings.Builder
	for i, c := range all {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more kinds", len(all)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d x %q", c.n, c.k.msg)
		if c.k.dir != "" {
			fmt.Fprintf(&b, " (%s)", c.k.dir)
		}
	}
	return total, b.String()
}

// admit spends a token of k's bucket. It returns whether the line passes
// and, if it does, how many lines of the kind were suppressed before it.
func (l *limiter) admit(k kind) (bool, uint64) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= l.cfg.MaxKinds {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= l.cfg.MaxKinds {
			b = &l.overflow
		} else {
			b = &bucket{tokens: float64(l.cfg.Burst), last: now}
			l.buckets[k] = b
		}
	}
	if b.last.IsZero() {
		b.tokens, b.last = float64(l.cfg.Burst), now
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += float64(dt) / float64(l.cfg.Every)
		if b.tokens > float64(l.cfg.Burst) {
			b.tokens = float64(l.cfg.Burst)
		}
		b.last = now
	}
	if b.tokens < 1 {
		b.suppressed++
		l.dropped++
		return false, 0
	}
	b.tokens--
	n := b.suppressed
	b.suppressed = 0
	return true, n
}

// sweepLocked forgets the kinds whose bucket has refilled and owes no
// count: they carry nothing a new bucket would not.
func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.suppressed == 0 && b.tokens+float64(now.Sub(b.last))/float64(l.cfg.Every) >= float64(l.cfg.Burst) {
			delete(l.buckets, k)
		}
	}
}

type exemptKey struct{}

// Exempt returns a context whose lines pass unbounded and untracked: for
// what an operator asks for (a status summary on SIGUSR1), never for what
// a peer can cause.
func Exempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, exemptKey{}, true)
}

// Handler is a slog.Handler that passes a bounded rate of lines to the
// handler it wraps. Handlers derived by WithAttrs and WithGroup share the
// bound of the one they came from.
type Handler struct {
	next slog.Handler
	l    *limiter
	dir  string // a "dir" or "link" attribute added by WithAttrs
}

var _ slog.Handler = (*Handler)(nil)

// New wraps next. It panics on a Config that fails Validate: the caller
// validated its configuration first.
func New(next slog.Handler, cfg Config) *Handler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{next: next, l: &limiter{cfg: cfg, buckets: make(map[kind]*bucket)}}
}

// Suppressed returns how many lines the handler (and every handler derived
// from it) has dropped.
func (h *Handler) Suppressed() uint64 {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	return h.l.dropped
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil && ctx.Value(exemptKey{}) != nil {
		return h.next.Handle(ctx, r)
	}
	k := kind{level: r.Level, msg: r.Message, dir: h.dir}
	r.Attrs(func(a slog.Attr) bool {
		if isWhere(a.Key) {
			k.dir = a.Value.String()
			return false
		}
		return true
	})
	pass, n := h.l.admit(k)
	h.l.mu.Lock()
	total, top := h.l.pendingLocked(h.l.cfg.Now())
	h.l.mu.Unlock()
	if total > 0 {
		sum := slog.NewRecord(h.l.cfg.Now(), slog.LevelWarn, SummaryMessage, 0)
		sum.AddAttrs(slog.Uint64(SuppressedKey, total), slog.String("most", top))
		if err := h.next.Handle(ctx, sum); err != nil {
			return err
		}
	}
	if !pass {
		return nil
	}
	if n > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Uint64(SuppressedKey, n))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	for _, a := range attrs {
		if isWhere(a.Key) {
			c.dir = a.Value.String()
		}
	}
	return &c
}

// isWhere reports whether an attribute names the link a line is about.
func isWhere(key string) bool { return key == "dir" || key == "link" }

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
