package dist

import (
	"encoding/binary"
	"fmt"

	"github.com/t2tiles/itcd/services/mfz"
)

// The nine message kinds of service 8, one type each. A kind's append
// writes one whole message, sealed with its CRC, after dst; its parse
// reads the bytes after the type and handle bytes (the CRC already
// checked and cut off by parseMessage) and checks every field against
// the format's hard limits; checks against a manifest are the caller's.
// Slices in a parsed kind alias the input. The layouts are drawn in
// notes/protocol.md ("Service 8"); all integers are big-endian.
//
// The appends write fields as they are, unchecked, so the hostile kit can
// make absurd messages through AppendMessage; only parse says what a tile
// takes. Nothing here allocates when dst has room: DATA is built for
// every chunk sent.

var be = binary.BigEndian

// announceMsg (ANNOUNCE) tells the dominant version of a name the sender
// holds or receives: flags(1) version(8) blocks(2) held(2) id(8)
// namelen(1) name.
type announceMsg struct {
	handle  uint8
	flags   byte // flagComplete, flagTombstone
	version int64
	blocks  uint16
	held    uint16
	fid     fileID
	name    string // its length byte is len(name) mod 256
}

func (m *announceMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgAnnounce, m.handle, m.flags)
	dst = be.AppendUint64(dst, uint64(m.version))
	dst = be.AppendUint16(dst, m.blocks)
	dst = be.AppendUint16(dst, m.held)
	dst = append(dst, m.fid[:]...)
	dst = append(dst, byte(len(m.name)))
	dst = append(dst, m.name...)
	return sealFrom(dst, start)
}

func parseAnnounce(h uint8, p []byte) (m announceMsg, err error) {
	if err := need(msgAnnounce, p, 22); err != nil {
		return m, err
	}
	m.handle, m.flags = h, p[0]
	m.version = int64(be.Uint64(p[1:]))
	m.blocks, m.held = be.Uint16(p[9:]), be.Uint16(p[11:])
	copy(m.fid[:], p[13:21])
	n := int(p[21])
	if err := exact(msgAnnounce, p, 22+n); err != nil {
		return m, err
	}
	m.name = string(p[22 : 22+n])
	if err := mfz.CheckName(m.name); err != nil {
		return m, fmt.Errorf("%w: name: %v", errField, err)
	}
	if m.blocks > mfz.MaxBlocks || m.held > m.blocks {
		return m, fmt.Errorf("%w: %d of %d blocks", errField, m.held, m.blocks)
	}
	if m.flags&flagTombstone != 0 && m.blocks != 0 {
		return m, fmt.Errorf("%w: tombstone with %d blocks", errField, m.blocks)
	}
	return m, nil
}

// getManifestMsg (GET_MANIFEST) asks for a signed manifest from a byte
// offset on: offset(4), to its end; or offset(4) count(2), count >= 1
// segments of manifestSeg bytes from offset (a re-ask of lost ones). The
// short form is what tiles before the count sent, and what a tile sends
// while it does not know the manifest's size, after two silences in a
// row, and to a sender whose ANNOUNCE lacks flagCounted: every sender
// serves it.
type getManifestMsg struct {
	handle uint8
	offset uint32
	count  uint16 // 0: the short form, to the end
}

func (m *getManifestMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgGetManifest, m.handle)
	dst = be.AppendUint32(dst, m.offset)
	if m.count > 0 {
		dst = be.AppendUint16(dst, m.count)
	}
	return sealFrom(dst, start)
}

func parseGetManifest(h uint8, p []byte) (m getManifestMsg, err error) {
	if len(p) != 4 {
		if err := exact(msgGetManifest, p, 6); err != nil {
			return m, err
		}
		if m.count = be.Uint16(p[4:]); m.count == 0 || int(m.count) > maxManifestSegs {
			return m, fmt.Errorf("%w: %d manifest segments", errField, m.count)
		}
	}
	m.handle, m.offset = h, be.Uint32(p)
	if m.offset >= mfz.MaxSignedManifestLen {
		return m, fmt.Errorf("%w: manifest offset %d", errField, m.offset)
	}
	return m, nil
}

// manifestMsg (MANIFEST) carries a segment of a signed manifest:
// offset(4) total(4) bytes.
type manifestMsg struct {
	handle uint8
	offset uint32
	total  uint32
	data   []byte
}

func (m *manifestMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgManifest, m.handle)
	dst = be.AppendUint32(dst, m.offset)
	dst = be.AppendUint32(dst, m.total)
	dst = append(dst, m.data...)
	return sealFrom(dst, start)
}

func parseManifest(h uint8, p []byte) (m manifestMsg, err error) {
	if err := need(msgManifest, p, 9); err != nil {
		return m, err
	}
	m.handle, m.offset, m.total, m.data = h, be.Uint32(p), be.Uint32(p[4:]), p[8:]
	if m.total < mfz.MinManifestLen+mfz.SignatureLen || m.total > mfz.MaxSignedManifestLen ||
		uint64(m.offset)+uint64(len(m.data)) > uint64(m.total) {
		return m, fmt.Errorf("%w: manifest bytes %d+%d of %d", errField, m.offset, len(m.data), m.total)
	}
	return m, nil
}

// bitfieldMsg (BITFIELD) is a run of a partial file's block bitmap
// (mfz.Bitmap) from block first on, a multiple of 8: first(2) bits.
type bitfieldMsg struct {
	handle uint8
	first  uint16
	bits   []byte
}

func (m *bitfieldMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgBitfield, m.handle)
	dst = be.AppendUint16(dst, m.first)
	dst = append(dst, m.bits...)
	return sealFrom(dst, start)
}

func parseBitfield(h uint8, p []byte) (m bitfieldMsg, err error) {
	if err := need(msgBitfield, p, 3); err != nil {
		return m, err
	}
	m.handle, m.first, m.bits = h, be.Uint16(p), p[2:]
	if m.first%8 != 0 || int(m.first)+8*len(m.bits) > mfz.MaxBlocks+7 {
		return m, fmt.Errorf("%w: bitfield at %d of %d bytes", errField, m.first, len(m.bits))
	}
	return m, nil
}

// haveMsg (HAVE) lists blocks just verified, and says every block below
// low is held (which repairs HAVEs lost before): low(2) block(2)...
type haveMsg struct {
	handle uint8
	low    uint16
	list   []byte // 2 bytes per block
}

func (m *haveMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgHave, m.handle)
	dst = be.AppendUint16(dst, m.low)
	dst = append(dst, m.list...)
	return sealFrom(dst, start)
}

func parseHave(h uint8, p []byte) (m haveMsg, err error) {
	if err := need(msgHave, p, 2); err != nil {
		return m, err
	}
	m.handle, m.low = h, be.Uint16(p)
	if m.low > mfz.MaxBlocks || len(p)%2 != 0 {
		return m, fmt.Errorf("%w: HAVE below %d with %d bytes", errField, m.low, len(p))
	}
	m.list = p[2:]
	for i := 0; i < len(m.list); i += 2 {
		if b := be.Uint16(m.list[i:]); b >= mfz.MaxBlocks {
			return m, fmt.Errorf("%w: block %d", errField, b)
		}
	}
	return m, nil
}

// blocks calls yield with each block the HAVE lists.
func (m *haveMsg) blocks(yield func(int)) {
	for i := 0; i+1 < len(m.list); i += 2 {
		yield(int(be.Uint16(m.list[i:])))
	}
}

// requestMsg (REQUEST) asks for count chunks of a block from chunk on:
// block(2) chunk(2) count(2).
type requestMsg struct {
	handle uint8
	block  uint16
	chunk  uint16
	count  uint16
	// short (REQUESTS entries only): answer chunks 0..15 with SHORT DATA.
	short bool
}

func (m *requestMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgRequest, m.handle)
	dst = be.AppendUint16(dst, m.block)
	dst = be.AppendUint16(dst, m.chunk)
	dst = be.AppendUint16(dst, m.count)
	return sealFrom(dst, start)
}

func parseRequest(h uint8, p []byte) (m requestMsg, err error) {
	if err := exact(msgRequest, p, 6); err != nil {
		return m, err
	}
	m.handle, m.block, m.chunk, m.count = h, be.Uint16(p), be.Uint16(p[2:]), be.Uint16(p[4:])
	if m.count == 0 {
		return m, fmt.Errorf("%w: request of no chunk (block %d chunk %d)", errField, m.block, m.chunk)
	}
	return m, m.checkChunks()
}

// span is how many chunks from chunk on r covers: count, or for a mark
// (count 0, REQUESTS only) the one chunk it follows.
func (r *requestMsg) span() int { return max(int(r.count), 1) }

// checkChunks checks that the chunks r covers can be in a block.
func (r *requestMsg) checkChunks() error {
	if r.block >= mfz.MaxBlocks || int(r.chunk)+r.span() > maxChunks {
		return fmt.Errorf("%w: request block %d chunks %d+%d", errField, r.block, r.chunk, r.count)
	}
	return nil
}

// requestsMsg (REQUESTS) carries the newest REQUEST sent to a neighbour
// and, on a lossy link, the few sent just before it: seq(2), then 1 to
// maxRequestEntries entries of handle(1) block(2) chunk(2) count(2),
// newest first, entry i being request number seq - i (mod 65536). A lost
// packet's requests arrive with the next one; the receiver takes each
// number once (links keep order: one newer than the last it took). An
// entry of count 0 is a mark, asked only of a sender that announces
// flagMarks: it is answered, in its turn, with an empty DATA for that
// chunk (window.go). An entry of block manifestAsk asks for segments
// chunk..chunk+count-1 of the signed manifest instead, as a counted
// GET_MANIFEST does.
type requestsMsg struct {
	seq  uint16
	list []byte // the entries, requestEntryLen bytes each
}

const (
	requestEntryLen = 7
	// maxRequestEntries bounds the work one packet asks of the
	// receiver: four requests, as four REQUESTs would.
	maxRequestEntries = 4
	// manifestAsk in an entry's block field asks for manifest segments.
	manifestAsk = 0xFFFF
	// entryShort in an entry's count field flags it short (requestMsg).
	entryShort = 0x8000
)

func (m *requestsMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgRequests)
	dst = be.AppendUint16(dst, m.seq)
	dst = append(dst, m.list...)
	return sealFrom(dst, start)
}

// parseRequests reads a REQUESTS body from its sequence number on; every
// entry must be one parseEntry takes.
func parseRequests(p []byte) (m requestsMsg, err error) {
	if len(p) < 2+requestEntryLen {
		return m, fmt.Errorf("%w: REQUESTS needs a number and an entry, has %d bytes", errShort, len(p))
	}
	m.seq, m.list = be.Uint16(p), p[2:]
	if len(m.list)%requestEntryLen != 0 || len(m.list) > maxRequestEntries*requestEntryLen {
		return m, fmt.Errorf("%w: %d bytes of request entries", errField, len(m.list))
	}
	for e := m.list; len(e) > 0; e = e[requestEntryLen:] {
		if _, err := parseEntry(e); err != nil {
			return m, err
		}
	}
	return m, nil
}

// parseEntry reads one REQUESTS entry: a REQUEST's fields, or a manifest
// ask (block manifestAsk) of 1..maxManifestSegs segments from a segment
// a manifest has.
func parseEntry(e []byte) (requestMsg, error) {
	r := entryAt(e)
	if r.handle > maxHandle {
		return r, fmt.Errorf("%w: handle %d", errField, r.handle)
	}
	if r.short && (r.count == 0 || r.block == manifestAsk) {
		return r, fmt.Errorf("%w: a mark or manifest ask flagged short (block %d count %d)", errField, r.block, r.count)
	}
	if r.block != manifestAsk {
		return r, r.checkChunks() // count 0: a mark, answered with an empty DATA
	}
	if int(r.chunk) >= maxManifestSegs || r.count == 0 || int(r.count) > maxManifestSegs {
		return r, fmt.Errorf("%w: manifest ask of segments %d+%d", errField, r.chunk, r.count)
	}
	return r, nil
}

// entryAt reads the fields of the entry at e, unchecked.
func entryAt(e []byte) requestMsg {
	count := be.Uint16(e[5:])
	return requestMsg{handle: e[0], block: be.Uint16(e[1:]), chunk: be.Uint16(e[3:]), count: count &^ entryShort, short: count&entryShort != 0}
}

// entries calls yield with each request and its number, oldest first.
// parseRequests checked every entry, so they are read, not checked again.
func (m *requestsMsg) entries(yield func(seq uint16, r requestMsg)) {
	n := len(m.list) / requestEntryLen
	for i := n - 1; i >= 0; i-- {
		yield(m.seq-uint16(i), entryAt(m.list[i*requestEntryLen:]))
	}
}

// appendRequestEntry adds r to a REQUESTS list.
func appendRequestEntry(list []byte, r requestMsg) []byte {
	list = append(list, r.handle)
	list = be.AppendUint16(list, r.block)
	list = be.AppendUint16(list, r.chunk)
	if r.short {
		return be.AppendUint16(list, r.count|entryShort)
	}
	return be.AppendUint16(list, r.count)
}

// dataMsg (DATA) carries one chunk of a block: block(2) chunk(2) bytes.
// If short, it is a SHORT DATA (type 11) instead: chunk(4 bits)
// block(12 bits) bytes, for a chunk below maxShortChunk and at least one
// byte (the answer to a mark is always a DATA).
type dataMsg struct {
	handle uint8
	block  uint16
	chunk  uint16
	data   []byte
	short  bool
}

// maxShortChunk bounds the chunk numbers a SHORT DATA holds: 16 chunks,
// a block of up to 3920 bytes (format 3 picks 1 or 2 KiB for files up to
// 1 MiB).
const maxShortChunk = 16

func (m *dataMsg) append(dst []byte) []byte {
	start := len(dst)
	if m.short {
		dst = append(dst, msgShortData, m.handle)
		dst = be.AppendUint16(dst, m.chunk<<12|m.block&0xFFF)
	} else {
		dst = append(dst, msgData, m.handle)
		dst = be.AppendUint16(dst, m.block)
		dst = be.AppendUint16(dst, m.chunk)
	}
	dst = append(dst, m.data...)
	return sealFrom(dst, start)
}

// parseShortData reads a SHORT DATA: its 16 bits hold every chunk and
// block number it can name, so only the chunk's bytes can be missing.
func parseShortData(h uint8, p []byte) (m dataMsg, err error) {
	if err := need(msgShortData, p, 3); err != nil {
		return m, err
	}
	v := be.Uint16(p)
	return dataMsg{handle: h, block: v & 0xFFF, chunk: v >> 12, data: p[2:], short: true}, nil
}

func parseData(h uint8, p []byte) (m dataMsg, err error) {
	// No bytes: the answer to a mark (a REQUESTS entry of count 0).
	if err := need(msgData, p, 4); err != nil {
		return m, err
	}
	m.handle, m.block, m.chunk, m.data = h, be.Uint16(p), be.Uint16(p[2:]), p[4:]
	if m.block >= mfz.MaxBlocks || int(m.chunk) >= maxChunks {
		return m, fmt.Errorf("%w: data block %d chunk %d", errField, m.block, m.chunk)
	}
	return m, nil
}

// notHaveMsg (NOTHAVE) says the sender does not serve a block, or with
// blockGone the file at all: block(2).
type notHaveMsg struct {
	handle uint8
	block  uint16
}

func (m *notHaveMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgNotHave, m.handle)
	dst = be.AppendUint16(dst, m.block)
	return sealFrom(dst, start)
}

func parseNotHave(h uint8, p []byte) (m notHaveMsg, err error) {
	if err := exact(msgNotHave, p, 2); err != nil {
		return m, err
	}
	m.handle, m.block = h, be.Uint16(p)
	if m.block >= mfz.MaxBlocks && m.block != blockGone {
		return m, fmt.Errorf("%w: block %d", errField, m.block)
	}
	return m, nil
}

// syncMsg (SYNC) says the sender's service (re)started or just saw the
// link come up: flags(1), and no handle.
type syncMsg struct {
	flags byte
}

func (m *syncMsg) append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, msgSync, m.flags)
	return sealFrom(dst, start)
}

// need checks that the body p of a message of type typ has at least n bytes.
func need(typ byte, p []byte, n int) error {
	if len(p) < n {
		return fmt.Errorf("%w: type %d needs %d bytes after the handle, has %d", errShort, typ, n, len(p))
	}
	return nil
}

// exact checks that the body of a fixed-size message ends where the CRC
// starts.
func exact(typ byte, p []byte, n int) error {
	if err := need(typ, p, n); err != nil {
		return err
	}
	if len(p) > n {
		return fmt.Errorf("%w: %d bytes after a type %d body", errField, len(p)-n, typ)
	}
	return nil
}

// sealFrom appends the CRC of the message that starts at dst[start].
func sealFrom(dst []byte, start int) []byte { return be.AppendUint16(dst, crc16(dst[start:])) }
