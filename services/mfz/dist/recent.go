package dist

// recentBlocks keeps copies of the last few blocks this tile verified as
// they came in, so the neighbours that ask for one next are served
// without reading it back from the disk. On a grid a block is passed on
// soon after it arrives (its HAVE goes out at once, and rarest-first
// makes the newest blocks the ones downstream neighbours lack), so most
// reads of a spreading file found the block here. Each read it saves
// is a system call on the simulator and an SD card read on a tile.
//
// The copies are of blocks that passed their hash, so serving from here
// keeps "verified before stored or served". Entries name the *file they
// belong to: a file dropped and fetched again is a new *file, and the
// old entries never match it.
type recentBlocks struct {
	slots []recentBlock
	next  int // the slot to overwrite next
}

type recentBlock struct {
	f     *file
	block int
	data  []byte
}

// recentSlots is how many blocks recentBlocks holds, and recentBytes
// bounds their bytes: 16 blocks of 4 KiB, the block size of a 1 MiB
// file. Of larger blocks fewer are held, and of blocks larger than
// recentBytes none: each is long enough on the link that a read costs
// little beside it.
const (
	recentSlots = 16
	recentBytes = 64 << 10
)

// put keeps a copy of block b of f, verified.
func (r *recentBlocks) put(f *file, b int, data []byte) {
	if len(data) == 0 || len(data) > recentBytes {
		return
	}
	if r.slots == nil {
		r.slots = make([]recentBlock, recentSlots)
	}
	s := &r.slots[r.next]
	r.next = (r.next + 1) % len(r.slots)
	if cap(s.data) < len(data) {
		s.data = make([]byte, len(data))
	}
	s.f, s.block, s.data = f, b, append(s.data[:0], data...)
	r.trim()
}

// trim keeps the bytes held within recentBytes: the oldest copies go.
func (r *recentBlocks) trim() {
	held := 0
	for i := range r.slots {
		held += cap(r.slots[i].data)
	}
	for i := r.next; held > recentBytes; i = (i + 1) % len(r.slots) {
		held -= cap(r.slots[i].data)
		r.slots[i] = recentBlock{}
	}
}

// get copies block b of f into buf and returns its length, or 0 if no
// copy is held.
func (r *recentBlocks) get(f *file, b int, buf []byte) int {
	for i := range r.slots {
		s := &r.slots[i]
		if s.f == f && s.block == b && len(s.data) <= len(buf) {
			return copy(buf, s.data)
		}
	}
	return 0
}

// forget drops every copy of f's blocks (f is no longer held).
func (r *recentBlocks) forget(f *file) {
	for i := range r.slots {
		if r.slots[i].f == f {
			r.slots[i].f = nil
		}
	}
}
