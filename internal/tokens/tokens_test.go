package tokens

import (
	"testing"
	"time"
)

// A fresh bucket gives its burst; then rate a second, never more than the
// burst however long it waits.
func TestBucket(t *testing.T) {
	const rate, burst = 4, 10
	t0 := time.Unix(1000, 0)
	var b Bucket
	n := 0
	for b.Take(t0, rate, burst) {
		n++
	}
	if n != burst {
		t.Fatalf("burst of %d, want %d", n, burst)
	}
	tests := []struct {
		after time.Duration
		want  int
	}{{250 * time.Millisecond, 1}, {time.Second, 4}, {time.Hour, 10}, {0, 0}}
	now := t0
	for _, tc := range tests {
		now = now.Add(tc.after)
		n := 0
		for b.Take(now, rate, burst) {
			n++
		}
		if n != tc.want {
			t.Errorf("after %v: %d taken, want %d", tc.after, n, tc.want)
		}
	}
}
