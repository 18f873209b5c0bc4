package mfz

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Opening files by path.
//
// The store opens files it is given (a push) and files it finds (live/,
// tomb/, partial/, the trust directory, state.json), and any of them may be
// something other than a regular file: a named pipe, whose open waits for a
// writer for ever; a device, whose open may have effects (a watchdog); a
// directory or a socket. Every such open goes through openFile. It first
// opens the path with O_PATH, which resolves it to one inode without
// opening that inode for I/O (no device driver or pipe sees it), and
// looks at that inode with fstat; only a regular file is then opened for
// reading, through /proc/self/fd, which reopens exactly that inode. A path
// swapped between the look and the open (a symbolic link flipped to a
// device by whoever asked for the push) cannot make the daemon, which runs
// as root, open anything else. Nothing here blocks on what the path names,
// and the error names the path and what it is.
//
// Rejected: stat the path, then open it. A link flipped in between gets
// the device opened. Opening with O_NONBLOCK and checking with fstat only
// does not block either, but it opens device nodes, and opening some has
// effects.

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
	pflag := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		pflag |= unix.O_NOFOLLOW // a link is then the inode looked at, and refused
	}
	pfd, err := unix.Open(path, pflag, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil, notRegular(path, fileType(st.Mode))
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", pfd), flag|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("mfz: opening %s: /proc is not mounted, and the store opens files only through it: %w", path, err)
		}
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: errors.Unwrap(err)}
	}
	fi, err := f.Stat()
	if err == nil {
		if sys, ok := fi.Sys().(*syscall.Stat_t); !ok || !fi.Mode().IsRegular() ||
			uint64(sys.Dev) != uint64(st.Dev) || uint64(sys.Ino) != uint64(st.Ino) {
			err = notRegular(path, fi.Mode())
		}
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

// fileType is the os.FileMode type bits of a stat mode.
func fileType(mode uint32) os.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return os.ModeNamedPipe
	case unix.S_IFCHR:
		return os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		return os.ModeDevice
	case unix.S_IFDIR:
		return os.ModeDir
	case unix.S_IFSOCK:
		return os.ModeSocket
	case unix.S_IFLNK:
		return os.ModeSymlink
	}
	return os.ModeIrregular
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
