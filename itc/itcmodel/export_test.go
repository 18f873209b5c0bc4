//go:build !(arm || 386 || mips || mipsle)

package itcmodel

// Waiting returns how many operations wait in the model now (a blocking
// read or write, an open waiting for a release), so a test can tell that
// a call is blocked rather than not yet made.
func Waiting(m *Model) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting
}
