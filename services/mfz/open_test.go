package mfz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// within runs f and fails the test if it has not returned after a
// generous deadline: what it tests used to block for ever. The goroutine
// of a call that blocks is left behind (the test has failed anyway).
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("%s has not returned after 15s: it blocks", what)
		panic("unreachable")
	}
}

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A push of a named pipe used to open it and wait for a writer for ever:
// the control request never answered and the daemon could not stop.
// Install now refuses anything that is not a regular file at once, and
// says what it is; a link to a signed file is still installed.
func TestInstallRefusesNonRegular(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	linkToNull := filepath.Join(dir, "null.mfz")
	if err := os.Symlink("/dev/null", linkToNull); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, what string
	}{
		{mkfifo(t, filepath.Join(dir, "fifo.mfz")), "a named pipe"},
		{dir, "a directory"},
		{"/dev/null", "a character device"},
		{linkToNull, "a character device"},
		{sock, "a socket"},
	} {
		err := within(t, "Install("+tc.path+")", func() error { _, err := s.Install(tc.path); return err })
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Install(%s) = %v, want ErrNotRegular", tc.path, err)
			continue
		}
		if want := tc.path + " is " + tc.what + ", not a regular file"; !strings.Contains(err.Error(), want) {
			t.Errorf("Install(%s): %q does not say %q", tc.path, err, want)
		}
	}
	good, _ := e.file("a.mfz", 1, 1, 3000)
	link := filepath.Join(dir, "link.mfz")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(link); err != nil {
		t.Fatalf("Install of a link to a signed file: %v", err)
	}
	if got := liveVersion(s, "a.mfz"); got != 1 {
		t.Fatalf("live version %d after installing through a link", got)
	}
	if fi, err := os.Lstat(filepath.Join(s.LiveDir(), "a.mfz")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("live/a.mfz is not a regular file: %v %v", fi, err)
	}
}

// A cancelled install stops and leaves nothing behind.
func TestInstallContextCancelled(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	path, _ := e.file("a.mfz", 1, 1, 50_000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.InstallContext(ctx, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("InstallContext with a cancelled context = %v, want context.Canceled", err)
	}
	if _, ok := s.Lookup("a.mfz"); ok {
		t.Fatal("installed although cancelled")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ holds %d files after a cancelled install", len(ents))
	}
}

// Every file the store opens in its own directories goes through the same
// check: a named pipe in live/, tomb/, partial/, the trust directory or in
// place of state.json used to block Open for ever. Each is refused now,
// with its reason, and the store opens.
func TestOpenRefusesNonRegular(t *testing.T) {
	for _, tc := range []struct {
		name  string
		place func(e *storeEnv) string // makes the pipe, returns its path
		check func(t *testing.T, e *storeEnv, s *Store, fifo string)
	}{
		{"live", func(e *storeEnv) string { return filepath.Join(e.dir, "live", "x.mfz") },
			func(t *testing.T, e *storeEnv, s *Store, fifo string) {
				reason := rejectedReason(t, e, "x.mfz")
				if !strings.Contains(reason, "is a named pipe, not a regular file") {
					t.Errorf("reason %q", reason)
				}
			}},
		{"live-link", nil, func(t *testing.T, e *storeEnv, s *Store, fifo string) {
			reason := rejectedReason(t, e, "n.mfz")
			if !strings.Contains(reason, "is a symbolic link, not a regular file") {
				t.Errorf("reason %q", reason)
			}
		}},
		{"tomb", func(e *storeEnv) string { return filepath.Join(e.dir, "tomb", "x.mfz") },
			func(t *testing.T, e *storeEnv, s *Store, fifo string) {
				rejectedReason(t, e, "x.mfz")
			}},
		{"trust", func(e *storeEnv) string { return filepath.Join(e.dir, "trust", "pipe.pub") },
			func(t *testing.T, e *storeEnv, s *Store, fifo string) {
				if s.Trust().Len() != 1 {
					t.Errorf("%d trusted keys, want the one good key", s.Trust().Len())
				}
				if !strings.Contains(e.logs.String(), "is a named pipe") {
					t.Errorf("the ignored pipe is not logged with its reason:\n%s", e.logs)
				}
			}},
		{"state", func(e *storeEnv) string { return filepath.Join(e.dir, "state.json") },
			func(t *testing.T, e *storeEnv, s *Store, fifo string) {
				if fi, err := os.Lstat(fifo); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("state.json is not rewritten as a regular file: %v", err)
				}
			}},
		{"partial-file", func(e *storeEnv) string {
			d := filepath.Join(e.dir, "partial", "x.mfz@1@0011223344556677")
			os.MkdirAll(d, 0o755)
			return filepath.Join(d, "file")
		}, func(t *testing.T, e *storeEnv, s *Store, fifo string) {
			if _, err := os.Lstat(filepath.Dir(fifo)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the broken partial is still there: %v", err)
			}
		}},
		{"partial-have", nil, func(t *testing.T, e *storeEnv, s *Store, fifo string) {
			if len(s.Partials()) != 0 {
				t.Errorf("a partial whose bitmap is a pipe was resumed")
			}
			if _, err := os.Lstat(filepath.Dir(fifo)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the broken partial is still there: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStoreEnv(t)
			var fifo string
			switch tc.name {
			case "live-link":
				fifo = filepath.Join(e.dir, "live", "n.mfz")
				os.MkdirAll(filepath.Dir(fifo), 0o755)
				if err := os.Symlink("/dev/null", fifo); err != nil {
					t.Fatal(err)
				}
			case "partial-have":
				// A real partial whose bitmap was replaced by a pipe.
				s := e.open()
				_, p, _, _ := e.receiving(s, "x.mfz", 1, 1, 3000)
				s.Close()
				fifo = filepath.Join(p.dir, "have")
				os.Remove(fifo)
				mkfifo(t, fifo)
			default:
				fifo = tc.place(e)
				os.MkdirAll(filepath.Dir(fifo), 0o755)
				mkfifo(t, fifo)
			}
			s := within(t, "Open", func() *Store {
				s, err := Open(StoreConfig{Dir: e.dir, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
				if err != nil {
					t.Errorf("Open: %v", err)
					return nil
				}
				return s
			})
			if s == nil {
				return
			}
			defer s.Close()
			tc.check(t, e, s, fifo)
		})
	}
}

// rejectedReason returns the .reason file of the one file moved aside
// from base.
func rejectedReason(t *testing.T, e *storeEnv, base string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", base+".*.reason"))
	if len(m) != 1 {
		t.Fatalf("%d reasons for %s in rejected/, want 1", len(m), base)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A named pipe dropped into live/ while the store runs is moved aside
// with its reason, and the store goes on.
func TestRunRejectsPipeInLive(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	runStore(t, s)
	mkfifo(t, filepath.Join(s.LiveDir(), "p.mfz"))
	waitFor(t, "the pipe moved aside", func() bool {
		m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", "p.mfz.*.reason"))
		return len(m) == 1
	})
	if r := rejectedReason(t, e, "p.mfz"); !strings.Contains(r, "is a named pipe, not a regular file") {
		t.Errorf("reason %q", r)
	}
	good, _ := e.file("a.mfz", 1, 1, 3000)
	if _, err := s.Install(good); err != nil {
		t.Fatalf("install after the pipe: %v", err)
	}
}

// A file dropped into live/ whose check is cut short by a stopping daemon
// is put back as it was, for the next start: not rejected, not lost, and
// the stop does not wait for the check.
func TestAdoptStopsWithContext(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	good, _ := e.file("big.mfz", 1, 1, 200000)
	want, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.LiveDir(), "big.mfz")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.adopt(ctx, p)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the file is not back in live/ as it was: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", "*")); len(m) != 0 {
		t.Fatalf("a stop rejected the file: %v", m)
	}
	if _, ok := s.Lookup("big.mfz"); ok {
		t.Fatal("an unchecked file was installed")
	}
	s.adopt(context.Background(), p)
	if _, ok := s.Lookup("big.mfz"); !ok {
		t.Fatal("the file put back was not installed later")
	}

	// When another file has taken the name meanwhile, the one whose check
	// was cut short is kept in rejected/ with the reason, never left in
	// tmp/ (emptied at the next start).
	q := filepath.Join(s.LiveDir(), "other.mfz")
	if err := os.WriteFile(q, want, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	s.adoptHook = func() {
		os.WriteFile(q, []byte("newcomer"), 0o644) // a user drops another file
		cancel2()                                  // as the daemon stops
	}
	s.adopt(ctx2, q)
	s.adoptHook = nil
	r := rejectedReason(t, e, "other.mfz")
	if !strings.Contains(r, "was taken meanwhile") {
		t.Fatalf("reason %q", r)
	}
}

// A push names a path its user controls. A symbolic link flipped between
// a regular file and a named pipe (or a device) while the daemon looks at
// it must never get the pipe opened: the daemon runs as root, and opening
// some devices has effects. Before openFile resolved the path once with
// O_PATH, this opened the pipe within a few hundred tries.
func TestOpenRegularSwappedLinkNeverOpensPipe(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ifd)
	if _, err := unix.InotifyAddWatch(ifd, fifo, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, to := range []string{reg, fifo} {
				os.Symlink(to, link+".t")
				os.Rename(link+".t", link)
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	buf := make([]byte, 4096)
	for i := 0; i < 5000; i++ {
		if f, _, err := openRegular(link); err == nil {
			f.Close()
		}
		if n, _ := unix.Read(ifd, buf); n > 0 {
			t.Fatalf("try %d: the named pipe behind a flipped link was opened", i)
		}
	}
}

// Pushes of one file at once used to copy and verify it whole each time
// (16 pushes of a 1.8 MB file: 29 MB in tmp/). Now while one push copies
// it, the others are told it is being installed, without a copy; and
// different files still all install.
func TestConcurrentPushesOfOneFileCopyItOnce(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	path, _ := e.file("same.mfz", 1, 1, 200000)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.fault = func(op string) error {
		if op == "install" {
			once.Do(func() { close(started); <-release }) // the first copy waits
		}
		return nil
	}
	first := make(chan error, 1)
	go func() { _, err := s.Install(path); first <- err }()
	<-started
	for i := range 15 {
		if _, err := s.Install(path); !errors.Is(err, ErrInstalling) {
			t.Errorf("push %d while the first copies: %v, want ErrInstalling", i+2, err)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first push: %v", err)
	}
	if _, err := s.Install(path); !errors.Is(err, ErrExists) {
		t.Fatalf("a push after it: %v, want ErrExists", err)
	}
	s.fault = nil

	var wg sync.WaitGroup
	paths := make([]string, 6)
	for i := range paths {
		paths[i], _ = e.file(fmt.Sprintf("f%d.mfz", i), 1, int64(i+2), 20000)
	}
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Install(paths[i]); err != nil {
				t.Errorf("push of %s: %v", paths[i], err)
			}
		}()
	}
	wg.Wait()
	if n := len(s.List()); n != 7 {
		t.Fatalf("%d files live, want 7", n)
	}
}
