package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The daemon's side of a capture stream on control.sock (the format is
// package control's, capture.go): after the "capture" request is
// answered, the connection carries records from the capture's queue to
// the client until the client shuts down its side or the daemon stops;
// an end record with the final loss count closes it.
//
// A capture is a control.sock connection like any other, so the socket's
// limits (max_clients, the owner's reserve) bound how many clients can
// ask; MaxCaptures bounds how many captures copy packets. A client that
// stops reading blocks only its own writer goroutine here: its queue
// fills and it loses its packets, the daemon goes on.

// captureWriteBuf is the buffer between a capture's queue and its
// socket: records are flushed when the queue runs empty.
const captureWriteBuf = 16 << 10

// serveCapture runs a capture on control.sock connection lc, whose
// request reader is r; answer writes a JSON answer line. It returns
// false, the connection still a control connection, when it refused the
// capture; true when the capture ran and the connection is done.
func (d *Daemon) serveCapture(ctx context.Context, lc *localConn, r *bufio.Reader, args json.RawMessage, answer func(control.Response) error) bool {
	var a control.CaptureArgs
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return answer(control.Response{Error: fmt.Sprintf("capture: %v", err)}) != nil
		}
	}
	sub, err := newCaptureSub(a, control.CaptureQueue)
	if err != nil {
		return answer(control.Response{Error: err.Error()}) != nil
	}
	// Added under the neighbours' lock with a connect for each live
	// neighbour and an MFM-compatible TEP for each such link, as a new
	// mfm.sock client gets them: the capture starts with the state of
	// the links, and every later event (tapped under the same lock)
	// comes after it, once.
	d.nbr.attach(func(live []p2p.Neighbour) {
		if err = d.capture.add(sub, control.MaxCaptures); err != nil {
			return
		}
		for _, n := range live {
			tapEventTo(sub, p2p.Event{Kind: packet.EventConnect, Dir: n.Dir, Tile: n.Tile}, d.capture.clk)
		}
		for _, e := range d.nbr.compatLocked() {
			tapEventTo(sub, e, d.capture.clk)
		}
	})
	if err != nil {
		return answer(control.Response{Error: err.Error()}) != nil
	}
	defer d.capture.remove(sub)
	info, _ := json.Marshal(control.CaptureInfo{Tile: d.self.String(), Device: d.devName, Queue: control.CaptureQueue})
	if err := answer(control.Response{OK: true, Result: info}); err != nil {
		return true
	}
	d.log.Info("capture started", "links", a.Links, "kinds", a.Kinds)
	c := lc.UnixConn
	c.SetWriteDeadline(time.Time{})
	// The client says it is done by shutting down its side: the reader
	// sees EOF. Whatever else it sends is read and ignored.
	c.SetReadDeadline(time.Time{})
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		io.Copy(io.Discard, r)
	}()
	defer func() {
		c.SetReadDeadline(time.Now()) // ends the reader if the client did not
		<-clientDone
	}()

	w := bufio.NewWriterSize(c, captureWriteBuf)
	var rec control.Record
	var buf []byte
	write := func(cr *captureRec) error {
		rec = control.Record{Type: control.RecordPacket, Travel: cr.travel, Link: cr.link, Time: time.Unix(0, cr.unixNano), Lost: sub.lost.Load(), Data: cr.data()}
		buf, _ = control.AppendRecord(buf[:0], &rec)
		_, err := w.Write(buf)
		return err
	}
loop:
	for {
		select {
		case cr := <-sub.c:
			if write(&cr) != nil {
				return true
			}
			if len(sub.c) == 0 && w.Flush() != nil {
				return true
			}
		case <-clientDone:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// The end: what is queued goes first, then the losses.
	d.capture.remove(sub)
	for len(sub.c) > 0 {
		cr := <-sub.c
		if write(&cr) != nil {
			return true
		}
	}
	end := control.Record{Type: control.RecordEnd, Link: control.NoLink, Time: d.capture.clk.Now(), Lost: sub.lost.Load()}
	buf, _ = control.AppendRecord(buf[:0], &end)
	// A client that stopped reading must not hold the daemon's stop.
	c.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	if _, err := w.Write(buf); err == nil {
		w.Flush()
	}
	d.log.Info("capture ended", "lost", end.Lost)
	return true
}

// tapEventTo offers one TEP to a single capture (its start state).
func tapEventTo(s *captureSub, e p2p.Event, clk *clock.Clock) {
	var buf [p2p.EventPacketLen]byte
	if b, err := p2p.AppendEvent(buf[:0], e); err == nil {
		offer([]*captureSub{s}, control.TravelEvent, b, clk)
	}
}
