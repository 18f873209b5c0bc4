package dist

import (
	"testing"
	"time"
)

func TestRefusals(t *testing.T) {
	tu := defaultTuning
	tu.refusedMax, tu.refuseFor = 3, time.Minute
	t0 := time.Unix(1000, 0)
	id := func(i byte) fileID { return fileID{i} }
	for _, c := range []struct {
		name string
		add  []byte        // refused at t0 + i seconds each
		at   time.Duration // asked then
		has  map[byte]bool // what is refused then
	}{
		{"refused for refuseFor", []byte{1}, time.Minute, map[byte]bool{1: true, 2: false}},
		{"then forgotten", []byte{1}, time.Minute + time.Second, map[byte]bool{1: false}},
		{"full: the one that ends first goes", []byte{1, 2, 3, 4}, 0, map[byte]bool{1: false, 2: true, 3: true, 4: true}},
		{"refused again: its time starts again", []byte{1, 2, 1}, time.Minute + 1500*time.Millisecond, map[byte]bool{1: true, 2: false}},
	} {
		r := refusals{}
		for i, x := range c.add {
			r.add(id(x), "test", t0.Add(time.Duration(i)*time.Second), &tu)
			if len(r) > tu.refusedMax {
				t.Fatalf("%s: %d refused, at most %d", c.name, len(r), tu.refusedMax)
			}
		}
		for x, want := range c.has {
			if got := r.has(id(x), t0.Add(c.at)); got != want {
				t.Errorf("%s: %d refused %v, want %v", c.name, x, got, want)
			}
		}
	}
}
