package mfz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// Dir is the store's directory, normally STATE/mfz. It holds live/,
	// partial/, tomb/, tmp/, rejected/, trust/ and state.json.
	Dir string
	// TrustDir holds the trusted *.pub keys; "" means Dir/trust.
	TrustDir string
	// Hooks run after a new version of a matching name is cut over.
	Hooks []Hook
	// Logger receives the store's log; nil means slog.Default().
	Logger *slog.Logger
	// Settle is how long a file that appears in live/ by hand must stay
	// unchanged before the store examines it; 0 means 1s.
	Settle time.Duration
	// SyncEvery is how many received blocks a Partial may hold unsynced
	// before it fsyncs the data and records them; 0 means 32.
	SyncEvery int
	// WriteFault is a test hook, nil in production: when set, it is called
	// before every data write the store makes with the write's name
	// ("block", "have", "partial", "install", "state", "tombstone",
	// "reason"), and an error it returns fails that write, as a full disk
	// would (return syscall.ENOSPC to play one).
	WriteFault func(op string) error
}

// Entry describes one name the store holds: a live file or, with Deleted
// set, a tombstone that keeps spreading.
type Entry struct {
	Name     string
	Version  int64
	Deleted  bool      // a tombstone: the name was deleted
	Path     string    // live/NAME, or tomb/NAME for a tombstone
	Size     int64     // size of the MFZ file at Path
	Manifest *Manifest // verified manifest
	Signed   []byte    // signed manifest (manifest || signature)
	Hash     Hash      // Manifest.Hash, the tie-break identity
}

// EventKind says what changed in the store.
type EventKind int

const (
	// EventInstalled: a new version of a file was cut over into live/.
	EventInstalled EventKind = iota + 1
	// EventDeleted: a tombstone was installed; the live file is gone.
	EventDeleted
	// EventRemoved: a live file vanished by hand (not by a tombstone).
	EventRemoved
	// EventTrust: the trusted keys changed; List may show more or fewer
	// entries.
	EventTrust
)

func (k EventKind) String() string {
	switch k {
	case EventInstalled:
		return "installed"
	case EventDeleted:
		return "deleted"
	case EventRemoved:
		return "removed"
	case EventTrust:
		return "trust"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event reports a change in the store.
type Event struct {
	Kind    EventKind
	Name    string // empty for EventTrust
	Version int64
	Entry   *Entry // the new entry for EventInstalled and EventDeleted
}

// Store is the local store of signed MFZ files in a tile's state dir. All
// methods are safe for concurrent use.
type Store struct {
	cfg   StoreConfig
	log   *slog.Logger
	trust *TrustSet

	live, partial, tomb, tmp, rejected, trustDir, stateFile string

	ctx    context.Context // canceled by Close; owns hooks
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	entries  map[string]*entry
	seen     map[string]seenRec
	partials map[string]*Partial // by partialKey
	bad      map[Hash]error      // signed manifests whose complete body failed
	subs     map[chan Event]struct{}
	hookQ    []hookJob
	hookBusy bool

	// fault, if set by tests, is called before every data write with the
	// operation's name; an error makes the write fail (a full disk).
	fault func(op string) error
	// adoptHook, set by tests, runs in adopt once the file is taken
	// out of live/ and before it is checked.
	adoptHook func()

	// installing holds the files pushes are copying in (mu guards it);
	// installSlots bounds how many copy and verify at once.
	installing   map[Hash]bool
	installSlots chan struct{}
}

// maxInstalls bounds the pushes that copy and verify at once: each takes a
// whole copy of its file in tmp/ and a core to verify it, and a careless
// `xargs -P` must not fill the disk or the tile's two cores.
const maxInstalls = 2

type entry struct {
	Entry
	f     *os.File // open for reading blocks; nil for tombstones
	ident fileIdent
}

// seenRec is the persisted highest version seen per name, with the
// identity of the file that holds it for a fast restart.
type seenRec struct {
	Version int64     `json:"version"`
	Hash    string    `json:"hash"`
	Deleted bool      `json:"deleted,omitempty"`
	File    fileIdent `json:"file"`
}

type fileIdent struct {
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Size  int64  `json:"size,omitempty"`
	Mtime int64  `json:"mtime,omitempty"`
}

func identOf(fi os.FileInfo) fileIdent {
	id := fileIdent{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id
}

type stateFile struct {
	Format int                `json:"format"`
	Names  map[string]seenRec `json:"names"`
}

// Open opens (creating if needed) the store in cfg.Dir: it loads the
// trusted keys and the highest-version record, checks live/ and tomb/,
// adopts or moves aside files dropped into live/ while the daemon was
// down, and resumes partial files. Call Run to watch for changes and
// Close when done.
func Open(cfg StoreConfig) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mfz: StoreConfig.Dir is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 32
	}
	s := &Store{
		cfg:          cfg,
		log:          cfg.Logger.With("svc", "mfz"),
		live:         filepath.Join(cfg.Dir, "live"),
		partial:      filepath.Join(cfg.Dir, "partial"),
		tomb:         filepath.Join(cfg.Dir, "tomb"),
		tmp:          filepath.Join(cfg.Dir, "tmp"),
		rejected:     filepath.Join(cfg.Dir, "rejected"),
		trustDir:     cfg.TrustDir,
		stateFile:    filepath.Join(cfg.Dir, "state.json"),
		entries:      map[string]*entry{},
		seen:         map[string]seenRec{},
		partials:     map[string]*Partial{},
		bad:          map[Hash]error{},
		subs:         map[chan Event]struct{}{},
		installing:   map[Hash]bool{},
		installSlots: make(chan struct{}, maxInstalls),
		fault:        cfg.WriteFault,
	}
	if s.trustDir == "" {
		s.trustDir = filepath.Join(cfg.Dir, "trust")
	}
	for _, d := range []string{cfg.Dir, s.live, s.partial, s.tomb, s.tmp, s.rejected, s.trustDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("mfz: %w", err)
		}
	}
	for _, h := range cfg.Hooks {
		if _, err := filepath.Match(h.Pattern, ""); err != nil || h.Command == "" {
			return nil, fmt.Errorf("mfz: hook %q: bad pattern or empty command", h.Pattern)
		}
	}
	// Whatever is in tmp/ is a write a crash interrupted.
	if ents, err := os.ReadDir(s.tmp); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(s.tmp, e.Name()))
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.trust = NewTrustSet()
	if _, err := s.reloadTrustChanged(); err != nil {
		return nil, err
	}
	if err := s.loadState(); err != nil {
		s.log.Error("mfz state unreadable; rebuilding it from live/ and tomb/ (older versions may be accepted until a newer one is seen again)", "path", s.stateFile, "err", err)
		s.moveAside(s.stateFile, "state.json", err)
	}
	s.scanTomb()
	s.scanLive()
	s.scanPartials()
	s.mu.Lock()
	err := s.saveStateLocked()
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Trust returns the store's trust set; it changes when the trust
// directory does.
func (s *Store) Trust() *TrustSet { return s.trust }

// TrustDir returns the directory of trusted keys.
func (s *Store) TrustDir() string { return s.trustDir }

// LiveDir returns the directory of live files.
func (s *Store) LiveDir() string { return s.live }

// reloadTrustChanged reloads the trust directory and reports whether the
// set of keys changed.
func (s *Store) reloadTrustChanged() (bool, error) {
	t, err := LoadTrust(func(p string, err error) {
		s.log.Warn("mfz trust key ignored", "path", p, "err", err)
	}, s.trustDir)
	if err != nil {
		return false, fmt.Errorf("mfz: loading trust: %w", err)
	}
	old := s.trust.IDs()
	s.trust.replace(t)
	now := s.trust.IDs()
	changed := fmt.Sprint(old) != fmt.Sprint(now)
	if changed {
		s.log.Info("mfz trusted keys", "dir", s.trustDir, "keys", fmt.Sprint(now))
	}
	return changed, nil
}

// maxStateLen bounds state.json: one record (about 250 bytes) per name
// ever seen, so some 60,000 names.
const maxStateLen = 16 << 20

func (s *Store) loadState() error {
	b, err := readOwn(s.stateFile, maxStateLen)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if st.Format != 1 {
		return fmt.Errorf("state format %d", st.Format)
	}
	for name, r := range st.Names {
		if CheckName(name) != nil {
			continue
		}
		if _, err := hex.DecodeString(r.Hash); err != nil || len(r.Hash) != 2*HashLen {
			continue
		}
		s.seen[name] = r
	}
	return nil
}

func (s *Store) saveStateLocked() error {
	st := stateFile{Format: 1, Names: s.seen}
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return err
	}
	return s.writeFileAtomic(s.stateFile, append(b, '\n'), "state")
}

// spool creates a file in tmp/ (named after pattern, as os.CreateTemp),
// writes it through the fault hook with write, and fsyncs it. It returns
// the file open; on error nothing is left behind.
func (s *Store) spool(pattern, op string, write func(w io.Writer) error) (*os.File, error) {
	f, err := os.CreateTemp(s.tmp, pattern)
	if err != nil {
		return nil, err
	}
	err = write(&faultWriter{w: f, s: s, op: op})
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// writeFileAtomic writes a small file through tmp/: write, fsync, rename,
// fsync the directory.
func (s *Store) writeFileAtomic(path string, b []byte, op string) error {
	f, err := s.spool("w-*", op, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err == nil {
		err = f.Close()
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("mfz: writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	// O_DIRECTORY: whatever replaced a directory is refused, not opened.
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

type faultWriter struct {
	w  io.Writer
	s  *Store
	op string
}

func (w *faultWriter) Write(b []byte) (int, error) {
	if w.s.fault != nil {
		if err := w.s.fault(w.op); err != nil {
			return 0, err
		}
	}
	return w.w.Write(b)
}

// seenCmp compares (version, hash) with the highest record for name:
// -1 older, 0 same, +1 newer. A name never seen compares +1.
func (s *Store) seenCmp(name string, version int64, h Hash) int {
	r, ok := s.seen[name]
	if !ok {
		return 1
	}
	switch {
	case version < r.Version:
		return -1
	case version > r.Version:
		return 1
	}
	return strings.Compare(hex.EncodeToString(h[:]), r.Hash)
}

// admitLocked decides whether (m, h) may be installed or begun.
func (s *Store) admitLocked(m *Manifest, h Hash) error {
	if s.closed {
		return ErrClosed
	}
	if err, ok := s.bad[h]; ok {
		return err
	}
	switch s.seenCmp(m.Name, m.Version, h) {
	case -1:
		r := s.seen[m.Name]
		if r.Deleted {
			return fmt.Errorf("%w: %w: %s version %d is older than the tombstone of version %d", ErrStale, ErrTombstoned, m.Name, m.Version, r.Version)
		}
		return fmt.Errorf("%w: %s version %d: version %d (hash %.16s) is newer or wins the tie", ErrStale, m.Name, m.Version, r.Version, r.Hash)
	case 0:
		if e, ok := s.entries[m.Name]; ok && e.Hash == h {
			return fmt.Errorf("%w: %s version %d", ErrExists, m.Name, m.Version)
		}
	}
	return nil
}

func manifestHash(signed []byte) Hash {
	return sha256.Sum256(signed[:len(signed)-SignatureLen])
}

// scanTomb registers the tombstones in tomb/.
func (s *Store) scanTomb() {
	ents, _ := os.ReadDir(s.tomb)
	for _, de := range ents {
		p := filepath.Join(s.tomb, de.Name())
		f, fi, file, err := s.openChecked(p)
		if err == nil {
			f.Close()
			if !file.Manifest.IsTombstone() || file.Manifest.Name != de.Name() {
				err = fmt.Errorf("%w: not the tombstone of %q", ErrMalformed, de.Name())
			}
		}
		if err != nil {
			s.moveAside(p, de.Name(), err)
			continue
		}
		s.mu.Lock()
		s.registerLocked(p, nil, fi, file)
		s.mu.Unlock()
	}
}

// openChecked opens an MFZ file and checks its header, manifest, size and
// signature (not its body). A file whose signer is no longer trusted
// passes unchecked: it was verified when installed, and List hides it
// until its key is trusted again.
func (s *Store) openChecked(p string) (*os.File, os.FileInfo, *File, error) {
	f, fi, err := openOwn(p, os.O_RDONLY)
	if err != nil {
		return nil, nil, nil, err
	}
	file, err := ReadFile(f, fi.Size())
	if err == nil {
		if _, trusted := s.trust.Lookup(file.Manifest.KeyID); trusted {
			_, err = VerifySignedManifest(file.Signed, s.trust)
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return f, fi, file, nil
}

// scanLive registers the files in live/. A file whose identity matches
// the record of its install is trusted after a signature check; any other
// file is verified completely and installed or moved aside.
func (s *Store) scanLive() {
	ents, _ := os.ReadDir(s.live)
	for _, de := range ents {
		p := filepath.Join(s.live, de.Name())
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		f, fi, file, err := s.openChecked(p)
		if err == nil {
			h := manifestHash(file.Signed)
			s.mu.Lock()
			r, ok := s.seen[de.Name()]
			known := ok && file.Manifest.Name == de.Name() && !file.Manifest.IsTombstone() &&
				r.Hash == hex.EncodeToString(h[:]) && r.File == identOf(fi)
			if known {
				s.registerLocked(p, f, fi, file)
			}
			s.mu.Unlock()
			if known {
				continue
			}
			f.Close()
		}
		s.adopt(s.ctx, p)
	}
}

// registerLocked records an installed file or tombstone as the entry of
// its name and raises the seen record.
func (s *Store) registerLocked(p string, f *os.File, fi os.FileInfo, file *File) *entry {
	m := file.Manifest
	h := manifestHash(file.Signed)
	if old, ok := s.entries[m.Name]; ok && old.f != nil {
		old.f.Close()
	}
	e := &entry{
		Entry: Entry{Name: m.Name, Version: m.Version, Deleted: m.IsTombstone(), Path: p,
			Size: fi.Size(), Manifest: m, Signed: file.Signed, Hash: h},
		f: f, ident: identOf(fi),
	}
	s.entries[m.Name] = e
	if s.seenCmp(m.Name, m.Version, h) >= 0 {
		s.seen[m.Name] = seenRec{Version: m.Version, Hash: hex.EncodeToString(h[:]), Deleted: e.Deleted, File: e.ident}
	}
	return e
}

// moveAside moves a bad file to rejected/ with a .reason file, and logs it.
func (s *Store) moveAside(p, base string, reason error) {
	dst := filepath.Join(s.rejected, fmt.Sprintf("%s.%d", strings.TrimLeft(base, "."), time.Now().UnixNano()))
	if err := os.Rename(p, dst); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Error("mfz cannot move bad file aside; removing it", "path", p, "reason", reason, "err", err)
			os.Remove(p)
		}
		return
	}
	syncDir(filepath.Dir(p))
	// Atomically: whoever sees the reason file sees all of it.
	if err := s.writeFileAtomic(dst+".reason", []byte(reason.Error()+"\n"), "reason"); err != nil {
		s.log.Error("mfz cannot write the reason beside a rejected file", "path", dst, "err", err)
	}
	s.log.Warn("mfz file rejected and moved aside", "path", p, "to", dst, "reason", reason)
}

// List returns the live files and tombstones whose signer is trusted now,
// sorted by name.
func (s *Store) List() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if _, ok := s.trust.Lookup(e.Manifest.KeyID); ok {
			out = append(out, e.Entry)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the entry for name (a live file or a tombstone).
func (s *Store) Lookup(name string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return Entry{}, false
	}
	if _, trusted := s.trust.Lookup(e.Manifest.KeyID); !trusted {
		return Entry{}, false
	}
	return e.Entry, true
}

// ReadBlock reads body block i of the live file name into buf (which must
// hold the manifest's BlockSize) after checking it against its hash, and
// returns its length.
func (s *Store) ReadBlock(name string, i int, buf []byte) (int, error) {
	// e.f is read under s.mu: Close clears it, and Close or a newer
	// install closes it; a read racing with them fails on the closed file.
	s.mu.Lock()
	e, ok := s.entries[name]
	var f *os.File
	if ok {
		f = e.f
	}
	s.mu.Unlock()
	if f == nil {
		return 0, fmt.Errorf("%w: no live file %q", ErrNotFound, name)
	}
	m := e.Manifest
	if _, ok := s.trust.Lookup(m.KeyID); !ok {
		return 0, fmt.Errorf("%w %s: %s is no longer served", ErrUntrusted, m.KeyID, name)
	}
	return readBlockAt(f, int64(HeaderLen+len(e.Signed)), m, i, buf)
}

func readBlockAt(f *os.File, bodyOff int64, m *Manifest, i int, buf []byte) (int, error) {
	n := m.BlockLen(i)
	if n == 0 {
		return 0, fmt.Errorf("%w: block index %d out of range [0, %d)", ErrMalformed, i, m.BlockCount())
	}
	if len(buf) < n {
		return 0, fmt.Errorf("mfz: ReadBlock buffer of %d bytes, block %d needs %d", len(buf), i, n)
	}
	if _, err := f.ReadAt(buf[:n], bodyOff+m.BlockOffset(i)); err != nil {
		return 0, err
	}
	if err := m.VerifyBlock(i, buf[:n]); err != nil {
		return 0, err
	}
	return n, nil
}

// Subscribe returns a channel that receives an Event for each change, with
// room for buf events. Events that do not fit are dropped (and logged): a
// subscriber that falls behind should call List. cancel stops the
// subscription and closes the channel; Close closes it too.
func (s *Store) Subscribe(buf int) (events <-chan Event, cancel func()) {
	ch := make(chan Event, max(buf, 1))
	s.mu.Lock()
	if s.closed {
		close(ch)
	} else {
		s.subs[ch] = struct{}{}
	}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func (s *Store) emitLocked(ev Event) {
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			s.log.Warn("mfz subscriber too slow; event dropped", "event", ev.Kind.String(), "name", ev.Name)
		}
	}
}

// Install installs the MFZ file at path (a file anywhere, as `itcd push`
// gives it): it copies it into the store, verifies it completely, checks
// dominance, renames it atomically into live/ (or tomb/ for a tombstone)
// and runs the hooks. path itself is not changed. It returns the new entry.
// A path that is not a regular file (or a link to one) is refused with
// ErrNotRegular, without waiting on it. A partial of exactly this file is
// dropped: it is complete now.
func (s *Store) Install(path string) (*Entry, error) {
	return s.InstallContext(context.Background(), path)
}

// InstallContext is Install that gives up, with ctx's error, when ctx
// ends: copying and verifying a large file takes minutes on a tile, longer
// than a daemon may take to stop.
func (s *Store) InstallContext(ctx context.Context, path string) (*Entry, error) {
	src, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// Cheap checks first, so a stale or untrusted file is not copied.
	file, err := ReadFile(src, fi.Size())
	if err != nil {
		return nil, err
	}
	if _, err := VerifySignedManifest(file.Signed, s.trust); err != nil {
		return nil, err
	}
	h := manifestHash(file.Signed)
	s.mu.Lock()
	err = s.admitLocked(file.Manifest, h)
	if err == nil && s.installing[h] {
		err = fmt.Errorf("mfz: %s version %d: %w; wait for it", file.Manifest.Name, file.Manifest.Version, ErrInstalling)
	}
	if err == nil {
		s.installing[h] = true
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer func() {
		s.mu.Lock()
		delete(s.installing, h)
		s.mu.Unlock()
	}()
	select {
	case s.installSlots <- struct{}{}:
		defer func() { <-s.installSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tmp, err := s.spool("in-*", "install", func(w io.Writer) error {
		_, err := io.Copy(w, ctxReader{ctx, io.NewSectionReader(src, 0, fi.Size())})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mfz: copying %s into the store: %w", path, err)
	}
	return s.installTemp(ctx, tmp)
}

// ctxReader reads from r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// installTemp verifies the file tmp (open, in tmp/) completely and commits
// it. It always consumes tmp: installed, or closed and removed.
func (s *Store) installTemp(ctx context.Context, tmp *os.File) (*Entry, error) {
	fail := func(err error) (*Entry, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	file, err := verifyFile(ctx, tmp, fi.Size(), s.trust, nil)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.commitLocked(tmp.Name(), tmp, file, false)
	if err != nil {
		return fail(err)
	}
	return &e.Entry, nil
}

// commitLocked cuts a verified file (at src, open as f, on the store's
// file system) over: rename into live/NAME or tomb/NAME, fsync, update the
// entry and the seen record, drop older partials and any partial of this
// very file, notify and run hooks.
// On success f belongs to the entry (or is closed, for a tombstone).
func (s *Store) commitLocked(src string, f *os.File, file *File, quiet bool) (*entry, error) {
	m := file.Manifest
	h := manifestHash(file.Signed)
	if _, err := VerifySignedManifest(file.Signed, s.trust); err != nil {
		return nil, err
	}
	if err := s.admitLocked(m, h); err != nil {
		return nil, err
	}
	dir := s.live
	if m.IsTombstone() {
		dir = s.tomb
	}
	dst := filepath.Join(dir, m.Name)
	if err := os.Rename(src, dst); err != nil {
		return nil, fmt.Errorf("mfz: installing %s: %w", m.Name, err)
	}
	if err := syncDir(dir); err != nil {
		s.log.Error("mfz fsync of directory failed", "dir", dir, "err", err)
	}
	if m.IsTombstone() {
		f.Close()
		f = nil
		if err := os.Remove(filepath.Join(s.live, m.Name)); err == nil {
			syncDir(s.live)
		}
	} else if err := os.Remove(filepath.Join(s.tomb, m.Name)); err == nil {
		syncDir(s.tomb) // a newer file supersedes the tombstone
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return nil, err
	}
	e := s.registerLocked(dst, f, fi, file)
	if err := s.saveStateLocked(); err != nil {
		// The file is in place; the record is rebuilt from it at restart.
		s.log.Error("mfz cannot save the version record", "err", err)
	}
	// Partials this version dominates are useless now, and so is a
	// partial of exactly this file: it arrived whole by push or by hand
	// while it was being received. (Complete takes its own partial out of
	// s.partials before it commits.) A Partial handed out fails further
	// PutBlocks with ErrDone.
	for key, p := range s.partials {
		if p.m.Name != m.Name || p.m.Version > m.Version {
			continue
		}
		why := "superseded by " + fmt.Sprint(m.Version)
		if p.hash == h {
			why = "the same file was installed"
		}
		s.dropPartialLocked(key, p, why)
	}
	kind := EventInstalled
	if e.Deleted {
		kind = EventDeleted
	}
	s.log.Info("mfz "+kind.String(), "name", m.Name, "version", m.Version, "key", m.KeyID.String(), "hash", h.String()[:16])
	ev := e.Entry
	s.emitLocked(Event{Kind: kind, Name: m.Name, Version: m.Version, Entry: &ev})
	if !quiet {
		s.queueHooksLocked(e.Entry)
	}
	return e, nil
}

// adopt examines a file that appeared in live/ by hand: it takes it out of
// live/, verifies it completely and installs it if it dominates, or moves
// it aside with a logged reason.
func (s *Store) adopt(ctx context.Context, p string) {
	base := filepath.Base(p)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	fi, err := os.Lstat(p)
	e, isEntry := s.entries[base]
	if isEntry && e.Path != p {
		isEntry = false
	}
	if err != nil {
		if isEntry && errors.Is(err, os.ErrNotExist) {
			// Removed by hand: forget the file, remember its version.
			if e.f != nil {
				e.f.Close()
			}
			delete(s.entries, base)
			s.log.Warn("mfz live file removed by hand", "name", base, "version", e.Version)
			s.emitLocked(Event{Kind: EventRemoved, Name: base, Version: e.Version})
		}
		s.mu.Unlock()
		return
	}
	if isEntry && identOf(fi) == e.ident {
		s.mu.Unlock()
		return // our own install
	}
	var before Hash
	if isEntry {
		// The user replaced or touched the live file: it is no longer
		// the verified one.
		before = e.Hash
		if e.f != nil {
			e.f.Close()
		}
		delete(s.entries, base)
	}
	tmpPath := filepath.Join(s.tmp, "adopt-"+base)
	err = os.Rename(p, tmpPath)
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("mfz cannot take in a file from live/", "path", p, "err", err)
		return
	}
	reject := func(err error) {
		if errors.Is(err, ErrExists) {
			os.Remove(tmpPath)
			s.log.Info("mfz duplicate file in live/ removed", "path", p)
			return
		}
		s.moveAside(tmpPath, base, err)
	}
	if !fi.Mode().IsRegular() {
		reject(notRegular(p, fi.Mode()))
		return
	}
	if s.adoptHook != nil {
		s.adoptHook()
	}
	f, fi, err := openOwn(tmpPath, os.O_RDONLY)
	if err != nil {
		reject(err)
		return
	}
	file, err := verifyFile(ctx, f, fi.Size(), s.trust, nil)
	if err != nil && ctx.Err() != nil {
		// Stopping: a large file must not hold the daemon up. Put it
		// back, unjudged, for the next start to take in.
		f.Close()
		if _, serr := os.Lstat(p); !errors.Is(serr, os.ErrNotExist) {
			// Another file took its name meanwhile: keep this one in
			// rejected/ (tmp/ is emptied at the next start), saying why.
			s.moveAside(tmpPath, base, fmt.Errorf("mfz: the daemon stopped while checking it and %s was taken meanwhile; put it back in live/ to have it checked: %w", p, err))
			return
		}
		if rerr := os.Rename(tmpPath, p); rerr != nil {
			s.moveAside(tmpPath, base, fmt.Errorf("mfz: the daemon stopped while checking it and could not put it back in live/ (%v): put it back by hand", rerr))
		}
		return
	}
	if err != nil {
		f.Close()
		reject(err)
		return
	}
	s.mu.Lock()
	_, err = s.commitLocked(tmpPath, f, file, before == manifestHash(file.Signed))
	s.mu.Unlock()
	if err != nil {
		f.Close()
		reject(err)
		return
	}
	s.log.Info("mfz file dropped into live/ installed", "path", p, "name", file.Manifest.Name, "version", file.Manifest.Version)
}

// Close stops the hooks (killing a running one), closes files and
// subscriptions, and waits for the store's goroutines. Partial files keep
// their state on disk and resume at the next Open.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for _, p := range s.partials {
		p.close()
	}
	for _, e := range s.entries {
		if e.f != nil {
			e.f.Close()
			e.f = nil
		}
	}
	for ch := range s.subs {
		close(ch)
	}
	s.subs = map[chan Event]struct{}{}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// sortedKeys is for deterministic iteration in tests and logs.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
