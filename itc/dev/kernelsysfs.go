package dev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
)

// Parsers of the text files of /sys/class/itc_pkt besides status
// (ParseStatus), for itcd doctor. The module writes them, but they are
// read as untrusted text: every read, line and field is bounded, and a
// malformed line is an error naming it, never a panic. Formats (the
// module prints every number with %d):
//
//	mfzid       "TID TOKEN ID\n": the last writer's thread id (-1: never
//	            written), a token 0..255, the id as written (an id written
//	            by echo keeps its newline)
//	statistics  "dir psan sfan toan mfmbsent mfmbrcvd mfmpsent mfmprcvd
//	            svcbsent svcbrcvd svcpsent svcprcvd", then one line per dir8
//	fifos       "name bin bout min mout len avail cdrops tdrops", then one
//	            line per packet buffer, such as "mUserIB-itc!flash ..."

// Bounds on the sysfs text: the module's files are a few hundred bytes.
const (
	MaxSysFileBytes = 16 << 10 // a read beyond this is cut and an error
	maxSysLines     = 64       // rows of statistics or fifos
	maxFIFONameLen  = 64
)

// Headers of the statistics and fifos files.
const (
	StatisticsHeader = "dir psan sfan toan mfmbsent mfmbrcvd mfmpsent mfmprcvd svcbsent svcbrcvd svcpsent svcprcvd"
	FIFOsHeader      = "name bin bout min mout len avail cdrops tdrops"
)

// ErrSysFileTooLong is returned by ReadSysFile for a file over
// MaxSysFileBytes: not a file the itc_pkt module writes.
var ErrSysFileTooLong = errors.New("sysfs file too long")

// ReadSysFile reads a file of /sys/class/itc_pkt, at most MaxSysFileBytes.
func ReadSysFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSysFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxSysFileBytes {
		return "", fmt.Errorf("%s: over %d bytes: %w", path, MaxSysFileBytes, ErrSysFileTooLong)
	}
	return string(b), nil
}

// MFZIDFile is the content of the mfzid file.
type MFZIDFile struct {
	Writer int    `json:"writer_tid"` // thread id of the last writer; -1 never written
	Token  int    `json:"token"`      // moves on at every write; 0 never written
	ID     string `json:"id"`         // as written, trailing newline included
}

// Written reports whether anyone has written the mfzid since the module
// loaded.
func (m MFZIDFile) Written() bool { return m.Writer > 0 }

// AppendMFZID appends m as the module prints it.
func AppendMFZID(b []byte, m MFZIDFile) []byte {
	return fmt.Appendf(b, "%d %d %s\n", m.Writer, m.Token, m.ID)
}

// ParseMFZID parses the mfzid file. The id is the rest of the text after
// the token, less the one newline the module adds.
func ParseMFZID(text string) (MFZIDFile, error) {
	var m MFZIDFile
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return m, fmt.Errorf("mfzid %.40q: want a line ending in a newline", text)
	}
	tid, rest, ok1 := strings.Cut(body, " ")
	tok, id, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return m, fmt.Errorf("mfzid %.40q: want \"TID TOKEN ID\"", text)
	}
	if len(id) > MaxMFZID+1 { // +1: an id written by echo keeps its newline
		return m, fmt.Errorf("mfzid: id of %d bytes, over the module's %d", len(id), MaxMFZID)
	}
	var err error
	if m.Writer, err = parseInt32(tid); err != nil || m.Writer < -1 {
		return MFZIDFile{}, fmt.Errorf("mfzid: writer thread %.20q: want -1 or a thread id", tid)
	}
	if m.Token, err = parseInt32(tok); err != nil || m.Token < 0 || m.Token > 255 {
		return MFZIDFile{}, fmt.Errorf("mfzid: token %.20q: want 0..255", tok)
	}
	m.ID = id
	return m, nil
}

// Traffic counts one kind of traffic on a link, as the module does.
type Traffic struct {
	BytesSent int64 `json:"bytes_sent"`
	BytesRcvd int64 `json:"bytes_rcvd"`
	PktsSent  int64 `json:"pkts_sent"`
	PktsRcvd  int64 `json:"pkts_rcvd"`
}

// LinkStatistics is one line of the statistics file.
type LinkStatistics struct {
	Dir     packet.Dir `json:"dir"`
	PSAN    int64      `json:"psan"` // packet sync announcements
	SFAN    int64      `json:"sfan"` // framing errors
	TOAN    int64      `json:"toan"` // timeouts
	MFM     Traffic    `json:"mfm"`
	Service Traffic    `json:"service"`
}

// AppendStatistics appends the statistics file of rows.
func AppendStatistics(b []byte, rows []LinkStatistics) []byte {
	b = append(b, StatisticsHeader+"\n"...)
	for _, r := range rows {
		b = fmt.Appendf(b, "%d %d %d %d", uint8(r.Dir), r.PSAN, r.SFAN, r.TOAN)
		for _, c := range [2]Traffic{r.MFM, r.Service} {
			b = fmt.Appendf(b, " %d %d %d %d", c.BytesSent, c.BytesRcvd, c.PktsSent, c.PktsRcvd)
		}
		b = append(b, '\n')
	}
	return b
}

// ParseStatistics parses the statistics file.
func ParseStatistics(text string) ([]LinkStatistics, error) {
	var rows []LinkStatistics
	err := eachRow(text, "statistics", StatisticsHeader, func(line int, f []string) error {
		if len(f) != 12 {
			return fmt.Errorf("%d fields, want 12", len(f))
		}
		var n [12]int64
		for i, s := range f {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("field %d %.20q: not a number", i+1, s)
			}
			n[i] = v
		}
		if n[0] < 0 || n[0] > 7 {
			return fmt.Errorf("dir %d: want 0..7", n[0])
		}
		rows = append(rows, LinkStatistics{
			Dir: packet.Dir(n[0]), PSAN: n[1], SFAN: n[2], TOAN: n[3],
			MFM:     Traffic{n[4], n[5], n[6], n[7]},
			Service: Traffic{n[8], n[9], n[10], n[11]},
		})
		return nil
	})
	return rows, err
}

// FIFO is one line of the fifos file: a packet buffer of the module.
type FIFO struct {
	Name   string `json:"name"`   // buffer-device, such as "mUserIB-itc!flash"
	BIn    int64  `json:"bin"`    // bytes in, ever (wraps)
	BOut   int64  `json:"bout"`   // bytes out, ever (wraps)
	MIn    int64  `json:"min"`    // in, modulo the size
	MOut   int64  `json:"mout"`   // out, modulo the size
	Len    int64  `json:"len"`    // bytes held, record headers included
	Avail  int64  `json:"avail"`  // largest packet that fits next
	CDrops int64  `json:"cdrops"` // drops since the last packet that fitted
	TDrops int64  `json:"tdrops"` // drops since the module loaded
}

// AppendFIFOs appends the fifos file of rows.
func AppendFIFOs(b []byte, rows []FIFO) []byte {
	b = append(b, FIFOsHeader+"\n"...)
	for _, r := range rows {
		b = fmt.Appendf(b, "%s %d %d %d %d %d %d %d %d\n", r.Name,
			r.BIn, r.BOut, r.MIn, r.MOut, r.Len, r.Avail, r.CDrops, r.TDrops)
	}
	return b
}

// ParseFIFOs parses the fifos file.
func ParseFIFOs(text string) ([]FIFO, error) {
	var rows []FIFO
	err := eachRow(text, "fifos", FIFOsHeader, func(line int, f []string) error {
		if len(f) != 9 {
			return fmt.Errorf("%d fields, want 9", len(f))
		}
		if len(f[0]) > maxFIFONameLen {
			return fmt.Errorf("name of %d bytes, over %d", len(f[0]), maxFIFONameLen)
		}
		var n [8]int64
		for i, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("field %d %.20q: not a number", i+2, s)
			}
			n[i] = v
		}
		rows = append(rows, FIFO{Name: f[0], BIn: n[0], BOut: n[1], MIn: n[2], MOut: n[3],
			Len: n[4], Avail: n[5], CDrops: n[6], TDrops: n[7]})
		return nil
	})
	return rows, err
}

// eachRow checks the header line of a sysfs table and calls row with the
// fields of each further line, at most maxSysLines of them.
func eachRow(text, file, header string, row func(line int, fields []string) error) error {
	if len(text) > MaxSysFileBytes {
		return fmt.Errorf("%s: over %d bytes: %w", file, MaxSysFileBytes, ErrSysFileTooLong)
	}
	first, rest, _ := strings.Cut(text, "\n")
	if strings.Join(strings.Fields(first), " ") != header {
		return fmt.Errorf("%s: header %.60q: want %q", file, first, header)
	}
	n := 1
	for line := range strings.Lines(rest) {
		n++
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if n > maxSysLines+1 {
			return fmt.Errorf("%s: over %d rows", file, maxSysLines)
		}
		if err := row(n, f); err != nil {
			return fmt.Errorf("%s line %d: %w", file, n, err)
		}
	}
	return nil
}

// parseInt32 parses a decimal int that fits 32 bits, as the module's %d
// prints an int.
func parseInt32(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	return int(v), err
}
