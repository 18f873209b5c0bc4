package counter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxFileLen bounds what is read of the counter file. Any int64 with
// generous whitespace fits; a longer file is not a number.
const maxFileLen = 64

// readCounter reads the counter file. An absent file gives an error for
// which errors.Is(err, fs.ErrNotExist) holds; any other error says in
// words why the file holds no number.
func readCounter(path string) (int64, error) {
	// O_NONBLOCK because opening a FIFO for reading would otherwise wait
	// for a writer and hang the service; for a regular file it does nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileLen+1))
	if err != nil {
		return 0, err
	}
	if len(b) > maxFileLen {
		return 0, fmt.Errorf("longer than %d bytes", maxFileLen)
	}
	return parseCounter(b)
}

// errEmptyFile: the file holds nothing but whitespace, if anything. That is
// also how a file looks between its truncation and its write.
var errEmptyFile = errors.New("empty: want a whole number such as 42")

// parseCounter accepts a signed decimal integer that fits in 64 bits, with
// any whitespace around it, such as "42\n" or " -7 ".
func parseCounter(b []byte) (int64, error) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, errEmptyFile
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is outside the 64-bit range", s)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return v, nil
}
