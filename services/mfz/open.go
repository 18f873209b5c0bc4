package mfz

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Opening files by path.
//
// The store opens files it is given (a push) and files it finds (live/,
// tomb/, partial/, the trust directory, state.json), and any of them may be
// something other than a regular file: a named pipe, whose open waits for a
// writer for ever; a device, whose open may have effects (a watchdog); a
// directory or a socket. Every such open goes through openFile. It looks at
// the path first and refuses what is not a regular file, so nothing else
// is ever opened; then it opens with O_NONBLOCK (an open that would wait
// for a pipe's writer returns at once) and checks the open file again, so
// a path swapped between the look and the open is refused too. Nothing
// here ever blocks on what the path names, and the error names the path
// and what it is.
//
// Rejected: opening first and checking with fstat only. That is enough
// not to block, but it opens device nodes, and opening some has effects.

// openRegular opens path for reading if it is a regular file, following a
// symbolic link (a push of a link to a signed file works).
func openRegular(path string) (*os.File, os.FileInfo, error) {
	return openFile(path, os.O_RDONLY, true)
}

// openOwn opens a file the store keeps in its own directories with flag
// (os.O_RDONLY or os.O_RDWR) if it is a regular file. A symbolic link is
// refused, not followed: nothing the store writes is a link.
func openOwn(path string, flag int) (*os.File, os.FileInfo, error) {
	return openFile(path, flag, false)
}

func openFile(path string, flag int, follow bool) (*os.File, os.FileInfo, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(path, fi.Mode())
	}
	flag |= syscall.O_NONBLOCK
	if !follow {
		flag |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		if !follow && errors.Is(err, syscall.ELOOP) {
			return nil, nil, notRegular(path, os.ModeSymlink) // swapped for a link
		}
		return nil, nil, err
	}
	fi, err = f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegular(path, fi.Mode())
	}
	if err == nil {
		err = clearNonblock(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// clearNonblock puts a regular file back in blocking mode. Linux ignores
// O_NONBLOCK on regular files, but nothing should depend on that.
func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// notRegular is the refusal of path, which is of mode m.
func notRegular(path string, m os.FileMode) error {
	return fmt.Errorf("mfz: %s is %s, %w", path, modeName(m), ErrNotRegular)
}

func modeName(m os.FileMode) string {
	switch t := m.Type(); {
	case t&os.ModeNamedPipe != 0:
		return "a named pipe"
	case t&os.ModeCharDevice != 0:
		return "a character device"
	case t&os.ModeDevice != 0:
		return "a block device"
	case t&os.ModeDir != 0:
		return "a directory"
	case t&os.ModeSocket != 0:
		return "a socket"
	case t&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// readOwn reads a small file the store keeps (state.json, a partial's
// bitmap) of at most max bytes, through openOwn.
func readOwn(path string, max int64) ([]byte, error) {
	f, _, err := openOwn(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("mfz: %s is longer than %d bytes", path, max)
	}
	return b, nil
}
