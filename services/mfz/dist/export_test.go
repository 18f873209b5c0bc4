package dist

import "time"

// Knobs are the tunings tests and benchmarks change.
type Knobs struct {
	Window     int
	Strategy   Strategy
	AvoidFor   time.Duration
	RefreshMin time.Duration
	RefreshMax time.Duration
	MinRTO     time.Duration
}

// SetKnobs changes the tuning of services made from now on; restore undoes it.
func SetKnobs(k Knobs) (restore func()) {
	t := defaultTuning
	if k.Window > 0 {
		t.window = k.Window
	}
	t.strategy = k.Strategy
	if k.AvoidFor > 0 {
		t.avoidFor = k.AvoidFor
	}
	if k.RefreshMin > 0 {
		t.refreshMin, t.refreshMax = k.RefreshMin, max(k.RefreshMax, k.RefreshMin)
	}
	if k.MinRTO > 0 {
		t.minRTO = k.MinRTO
	}
	old := testTuning.Swap(&t)
	return func() { testTuning.Store(old) }
}

// CorruptFrom makes the service of the tile with this state dir send
// every DATA chunk with a bit flipped (and a matching CRC).
func CorruptFrom(stateDir string) (undo func()) {
	corruptTiles.Store(stateDir, struct{}{})
	return func() { corruptTiles.Delete(stateDir) }
}
