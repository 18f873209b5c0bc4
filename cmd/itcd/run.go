package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/tile"
)

const defaultConfigPath = "/etc/itcd/itcd.toml"

func init() {
	register("run", "run the tile daemon (what starts at boot)", cmdRun)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "run [flags]", "Runs the daemon until SIGTERM. Flags override the config file;\n"+
		"--udp-listen and --link join tiles over UDP instead of /dev/itc (also across machines).\n"+
		"SIGUSR1 logs a one-screen summary of neighbours and traffic.")
	configPath := fs.String("config", defaultConfigPath, "TOML config `file`")
	stateDir := fs.String("state-dir", "", "state `dir` (default /var/lib/itcd)")
	runDir := fs.String("run-dir", "", "run `dir` for the sockets (default /run/itcd)")
	device := fs.String("device", "", "packet device: kernel or udp")
	listen := fs.String("udp-listen", "", "UDP `addr` to listen on (selects the udp device)")
	udpFD := fs.Int("udp-fd", -1, "use the bound UDP socket inherited as file descriptor `N` instead of --udp-listen\n(a supervisor that must keep the port, such as itcd sim --procs, passes it)")
	var links multiFlag
	fs.Var(&links, "link", "UDP link `DIR=HOST:PORT` to a neighbour (repeatable)")
	def := tile.DefaultConfig()
	shape := addShapeFlags(fs, def.UDP.Profile, def.UDP.Seed)
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	if _, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	cfg, err := tile.LoadConfig(*configPath, !setFlags["config"])
	if err != nil {
		fmt.Fprintf(stderr, "itcd run: %v\n", err)
		return 2
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	if *runDir != "" {
		cfg.RunDir = *runDir
	}
	var udpConn *net.UDPConn
	if *udpFD >= 0 {
		if udpConn, err = inheritedUDP(*udpFD); err != nil {
			fmt.Fprintf(stderr, "itcd run: --udp-fd %d: %v\n", *udpFD, err)
			return 2
		}
		*listen = udpConn.LocalAddr().String()
	}
	if *listen != "" || len(links) > 0 {
		cfg.Device = "udp"
	}
	if *device != "" {
		cfg.Device = *device
	}
	if *listen != "" {
		cfg.UDP.Listen = *listen
	}
	if len(links) > 0 {
		m, err := parseLinks(links)
		if err != nil {
			fmt.Fprintf(stderr, "itcd run: %v\n", err)
			return 2
		}
		cfg.UDP.Links = m
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintf(stderr, "itcd run: log level %q: want debug, info, warn or error\n", cfg.LogLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	log.Info("itcd starting", readVersion().logAttrs()...)

	if err := shape.apply(&cfg.UDP.Profile, &cfg.UDP.Seed); err != nil {
		fmt.Fprintf(stderr, "itcd run: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "itcd run: config: %v\n", err)
		return 2
	}

	t, err := tile.New(cfg, tile.Options{Logger: log, UDPConn: udpConn})
	if err != nil {
		fmt.Fprintf(stderr, "itcd run: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	done := make(chan error, 1)
	go func() { done <- t.Run(ctx) }()
	for {
		select {
		case <-usr1:
			select {
			case <-t.Ready():
				t.LogSummary()
			default:
			}
		case err := <-done:
			if err != nil {
				log.Error("itcd stopped", "err", err)
				return 1
			}
			log.Info("itcd stopped cleanly")
			return 0
		}
	}
}

// inheritedUDP adopts a bound UDP socket passed down as file descriptor fd.
func inheritedUDP(fd int) (*net.UDPConn, error) {
	f := os.NewFile(uintptr(fd), "udp-fd")
	if f == nil {
		return nil, errors.New("not a valid file descriptor")
	}
	defer f.Close() // FilePacketConn made its own copy
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("not a socket the parent passed down: %w", err)
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("a %s socket, not UDP", pc.LocalAddr().Network())
	}
	return uc, nil
}

// parseLinks reads --link DIR=HOST:PORT flags. A direction given twice
// (ET and et too) is an error: one of the two would be ignored without a
// word.
func parseLinks(flags []string) (dev.Links, error) {
	var l dev.Links
	for _, f := range flags {
		if err := l.ParseLinkFlag(f); err != nil {
			return nil, fmt.Errorf("--link %w", err)
		}
	}
	return l, nil
}
