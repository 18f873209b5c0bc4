//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import "fmt"

// The files of /sys/class/itc_pkt, in the module's formats:
//
//	status      "%08x\n": one hex digit per dir8, dir8 0 rightmost
//	mfzid       "%d %d %s\n": writer's thread id (-1: never written),
//	            token (0: never written; then 1..255), the id as written
//	            (an id written by echo keeps its newline, so the file then
//	            ends in two)
//	statistics  a header line, then per dir8 0..7:
//	            dir psan sfan toan, then bytes sent, bytes received,
//	            packets sent, packets received for MFM and then service
//	fifos       a header line, then one line per packet buffer: the PRUs'
//	            mLocalIB, mPriorityOB, mKernelOB, mBulkOB, then mUserIB of
//	            bulk, flash and the MFM devices (ET SE SW WT NW NE)

const (
	statisticsHeader = "dir psan sfan toan mfmbsent mfmbrcvd mfmpsent mfmprcvd svcbsent svcbrcvd svcpsent svcprcvd\n"
	fifosHeader      = "name bin bout min mout len avail cdrops tdrops\n"
)

// sysText renders sysfs file name of t as a read at that moment sees it.
func (t *Tile) sysText(name string) []byte {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	var b []byte
	switch name {
	case sysStatus:
		b = fmt.Appendf(b, "%08x\n", t.status)
	case sysMFZID:
		b = fmt.Appendf(b, "%d %d %s\n", t.mfz.tid, t.mfz.token, t.mfz.id)
	case sysStatistics:
		b = append(b, statisticsHeader...)
		for d, s := range t.stats {
			b = fmt.Appendf(b, "%d %d %d %d", d, s.psan, s.sfan, s.toan)
			for _, c := range s.counts {
				b = fmt.Appendf(b, " %d %d %d %d", c.bytesSent, c.bytesRcvd, c.pktsSent, c.pktsRcvd)
			}
			b = append(b, '\n')
		}
	case sysFifos:
		b = append(b, fifosHeader...)
		for _, p := range t.pru {
			for _, f := range []*recordFIFO{p.local, p.priority, p.kernel, p.bulk} {
				b = f.appendLine(b)
			}
		}
		for _, f := range t.user {
			if f != nil {
				b = f.appendLine(b)
			}
		}
	}
	return b
}
