package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/internal/procstat"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// creditDevice hands out the same packet as long as it holds credits; the
// consumer returns a credit for each packet it handled. That is the
// backpressure of a kernel FIFO, so a benchmark measures the daemon's own
// path end to end with nothing dropped.
type creditDevice struct {
	pkt     []byte
	credits chan struct{}
	changes chan struct{}
	done    chan struct{}
}

func newCreditDevice(pkt []byte, inFlight int) *creditDevice {
	c := &creditDevice{pkt: pkt, credits: make(chan struct{}, inFlight), changes: make(chan struct{}, 1), done: make(chan struct{})}
	for i := 0; i < inFlight; i++ {
		c.credits <- struct{}{}
	}
	return c
}

func (c *creditDevice) ReadPacket(buf []byte) (int, error) {
	select {
	case <-c.done:
		return 0, dev.ErrClosed
	case <-c.credits:
		return copy(buf, c.pkt), nil
	}
}
func (c *creditDevice) WritePacket([]byte) error { return nil }
func (c *creditDevice) Status() dev.Status {
	var s dev.Status
	s[packet.ET] = dev.LinkMFM
	return s
}
func (c *creditDevice) StatusChanges() <-chan struct{} { return c.changes }
func (c *creditDevice) Close() error                   { close(c.done); return nil }

// countService is the smallest service: it counts packets and returns a
// credit to the device for each.
type countService struct {
	dev   *creditDevice
	want  int
	bytes int
	done  chan struct{}
}

func (c *countService) Number() packet.Service { return 9 }
func (c *countService) Name() string           { return "count" }
func (c *countService) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in.Packets:
			c.bytes += len(m.Payload())
			n++
			c.dev.credits <- struct{}{}
			if n >= c.want && c.done != nil {
				close(c.done)
				c.done = nil
			}
		case <-in.Events:
		}
	}
}

// BenchmarkDemuxToService measures packets a second from a device through
// the daemon's read loop and demultiplexer into an in-process service, in
// one process. The reference is 2 million packets a second.
func BenchmarkDemuxToService(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"16B", 16}, {"255B", 255}} {
		b.Run(size.name, func(b *testing.B) {
			pkt, _ := packet.AppendService(nil, packet.ET, 9, make([]byte, size.n-packet.ServiceHeaderLen))
			cd := newCreditDevice(pkt, 1024)
			svc := &countService{dev: cd, want: b.N, done: make(chan struct{})}
			done := svc.done
			d := liveDaemon(b, cd, svc, func(cfg *Config) { cfg.InboxLen = 2048 })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			b.ResetTimer()
			go d.Run(ctx)
			<-done
			b.StopTimer()
			if dropped := d.stats.link[packet.ET].dropped.Load(); dropped != 0 {
				b.Fatalf("%d packets dropped", dropped)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// liveDaemon makes (and does not run) a daemon on device with service
// svc, whose neighbour on ET is live as if its hello had been heard. The
// device sends no hellos, so the neighbour is not declared dead for an
// hour; mod changes the rest of the config.
func liveDaemon(b *testing.B, device dev.Device, svc p2p.Service, mod func(*Config)) *Daemon {
	b.Helper()
	cfg := DefaultConfig()
	cfg.StateDir, cfg.RunDir = b.TempDir(), b.TempDir()
	cfg.DeadAfter = conf.Duration(time.Hour)
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg, Options{Device: device, Services: []p2p.Service{svc}, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	d.nbr.heard(d, packet.ET, AppendHello(nil, Hello{Version: 1, Tile: [8]byte{1}, TS: 1}))
	return d
}

// writeDevice is a device that takes every write and says so on wrote.
type writeDevice struct {
	creditDevice
	wrote chan struct{}
}

func (w *writeDevice) WritePacket([]byte) error {
	w.wrote <- struct{}{}
	return nil
}

// sendService sends one packet on ET each time go says, b.N in all.
type sendService struct {
	pkt  []byte
	next chan struct{}
	errc chan error
}

func (s *sendService) Number() packet.Service { return 9 }
func (s *sendService) Name() string           { return "send" }
func (s *sendService) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.next:
			if err := h.Send(packet.ET, s.pkt); err != nil {
				s.errc <- err
			}
		case <-in.Events:
		}
	}
}

// BenchmarkServiceToDevice measures one packet at a time from a service,
// through the daemon's outbound queues, to the device: as on a tile,
// where a link of 64 KB/s takes a packet every 4 ms and each goes alone.
// The service sends the next when the device has the last. One CPU, as
// on a tile; switches/pkt are thread context switches (internal/procstat).
func BenchmarkServiceToDevice(b *testing.B) {
	restore, err := procstat.PinToOneCPU()
	if err != nil {
		b.Skip(err)
	}
	defer restore()
	wd := &writeDevice{creditDevice: *newCreditDevice(nil, 0), wrote: make(chan struct{}, 1)}
	svc := &sendService{pkt: make([]byte, 200), next: make(chan struct{}, 1), errc: make(chan error, 1)}
	d := liveDaemon(b, wd, svc, func(cfg *Config) {
		cfg.DeadAfter = conf.Duration(2 * time.Hour)
		cfg.HelloInterval = conf.Duration(time.Hour) // the daemon says hello once, then not again
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	<-d.Ready()
	// The daemon's first hello on ET.
	select {
	case <-wd.wrote:
	case <-time.After(10 * time.Second):
		b.Fatal("no hello written")
	}
	b.ReportAllocs()
	b.ResetTimer()
	sw0, cpu0 := procstat.Switches(b), procstat.CPU()
	for i := 0; i < b.N; i++ {
		svc.next <- struct{}{}
		select {
		case <-wd.wrote:
		case err := <-svc.errc:
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(procstat.Switches(b)-sw0)/float64(b.N), "switches/pkt")
	b.ReportMetric(float64((procstat.CPU()-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/pkt")
}
