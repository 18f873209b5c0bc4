package dist

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// Status is the service's section of `itcd status` (under "mfz") and the
// answer to the control command "files". It is plain data and reads the
// same in JSON. Slices are never null.
type Status struct {
	// Files are the live files and tombstones in the store.
	Files []FileStatus `json:"files"`
	// Transfers are the files being received.
	Transfers []TransferStatus `json:"transfers"`
	// Neighbours are the live neighbours and what each announced.
	Neighbours []NeighbourStatus `json:"neighbours"`
	Counters   Counters          `json:"counters"`
	// Paused, when set, says why no new transfer can start: the disk
	// failed creating one (full...). It is set until a new transfer
	// starts again; PausedRetryS is when one is tried next (0: now).
	Paused       string  `json:"paused,omitempty"`
	PausedRetryS float64 `json:"paused_retry_s,omitempty"`
	// StartsPaused are files a neighbour announced whose transfer the
	// store could not create for a reason of that file alone (something
	// in the way of its partial directory): each is tried again by itself.
	StartsPaused []StartPause `json:"starts_paused"`
}

// StartPause is a file whose transfer could not start.
type StartPause struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	ID      string `json:"id"`
	// Reason is the store's error, naming the path to act on; RetryS is
	// when the manifest is fetched and the transfer tried again.
	Reason string  `json:"reason"`
	RetryS float64 `json:"retry_s,omitempty"`
}

// FileStatus is one live file or tombstone.
type FileStatus struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Size    int64  `json:"size"` // bytes that travel: the body (and in format 3 its hash list)
	Blocks  int    `json:"blocks"`
	Deleted bool   `json:"deleted"`
	ID      string `json:"id"` // the file id: 16 hex digits of the manifest hash
	// CompletedAt is when this tile completed the file (by transfer or
	// push) in Unix nanoseconds; 0 if it held it before it started.
	CompletedAt int64 `json:"completed_unix_ns,omitempty"`
}

// TransferStatus is one file being received.
type TransferStatus struct {
	Name        string         `json:"name"`
	Version     int64          `json:"version"`
	ID          string         `json:"id"`
	BlocksHeld  int            `json:"blocks_held"`
	BlocksTotal int            `json:"blocks_total"`
	BytesHeld   int64          `json:"bytes_held"`
	BytesTotal  int64          `json:"bytes_total"`
	Resumed     int            `json:"blocks_resumed"` // held from before a restart
	BytesPerS   float64        `json:"bytes_per_s"`    // since it started here
	Completing  bool           `json:"completing"`     // all blocks held; final check running
	Seconds     float64        `json:"seconds"`
	Sources     []SourceStatus `json:"sources"`
	// State is "receiving", "completing" (the final check runs) or
	// "paused": this tile's store failed (a full disk); nothing is asked
	// for until RetryS, then one block (or the final check) is tried, and
	// the transfer resumes by itself when that works. Reason is the
	// store's error, naming the path to act on.
	State  string  `json:"state"`
	Reason string  `json:"reason,omitempty"`
	RetryS float64 `json:"retry_s,omitempty"`
}

// SourceStatus is what one neighbour delivered to a transfer.
type SourceStatus struct {
	Dir    packet.Dir `json:"dir"`
	Blocks int        `json:"blocks"`
	Bytes  int64      `json:"bytes"`
}

// NeighbourStatus is one live neighbour.
type NeighbourStatus struct {
	Dir       packet.Dir      `json:"dir"`
	Files     []NeighbourFile `json:"files"`
	InFlight  int             `json:"chunks_in_flight"`
	Fetching  int             `json:"blocks_fetching"`
	Serving   int             `json:"chunks_queued"` // chunks it asked of us, waiting
	RTTms     float64         `json:"rtt_ms"`
	BytesPerS float64         `json:"bytes_per_s"` // delivered to us, smoothed
	AvoidedS  float64         `json:"avoided_s,omitempty"`
	BadBlocks uint64          `json:"bad_blocks"`
	Timeouts  uint64          `json:"timeouts"`
	NotHave   uint64          `json:"nothave"`
}

// NeighbourFile is a file a neighbour announced.
type NeighbourFile struct {
	Name      string `json:"name"`
	Version   int64  `json:"version"`
	ID        string `json:"id"`
	Complete  bool   `json:"complete"`
	Tombstone bool   `json:"tombstone"`
	Held      int    `json:"held"`
	Total     int    `json:"total"`
}

// Counters count what happened since the service started.
type Counters struct {
	PacketsOut      uint64 `json:"packets_out"`
	ChunksIn        uint64 `json:"chunks_in"`
	ChunksOut       uint64 `json:"chunks_out"`
	BlocksIn        uint64 `json:"blocks_in"`      // blocks fetched and verified
	BlocksResumed   uint64 `json:"blocks_resumed"` // held already when a transfer resumed after a restart
	Completed       uint64 `json:"completed"`
	Requests        uint64 `json:"requests"`        // REQUESTs sent
	RequestsIn      uint64 `json:"requests_in"`     // chunk requests received and taken (REQUEST, REQUESTS entries; not manifest asks)
	RequestRepeats  uint64 `json:"request_repeats"` // REQUESTS entries taken already (the repeats on a lossy link)
	Marks           uint64 `json:"marks"`           // marks asked: guards answered by an empty DATA
	Lost            uint64 `json:"lost"`            // chunks found lost by a later one arriving, asked again
	Duplicates      uint64 `json:"duplicates"`      // chunks that came twice
	Unexpected      uint64 `json:"unexpected"`      // DATA for nothing asked (late, or after a cancel)
	Timeouts        uint64 `json:"timeouts"`
	NotHave         uint64 `json:"nothave"`     // NOTHAVEs received
	NotHaveOut      uint64 `json:"nothave_out"` // NOTHAVEs sent
	BadBlocks       uint64 `json:"bad_blocks"`  // blocks that failed their hash
	NoPage          uint64 `json:"no_page"`     // format-3 blocks that arrived before their hash page (dropped; never asked so)
	BadManifests    uint64 `json:"bad_manifests"`
	Avoided         uint64 `json:"avoided"` // times a neighbour was put aside
	Refused         uint64 `json:"refused_manifests"`
	Superseded      uint64 `json:"superseded"` // transfers stopped for a newer version
	ManifestsIn     uint64 `json:"manifests_in"`
	AnnouncesIn     uint64 `json:"announces_in"`
	AnnouncesOut    uint64 `json:"announces_out"`
	RequestsDropped uint64 `json:"requests_dropped"` // a neighbour asked more than its window
	CtrlDropped     uint64 `json:"ctrl_dropped"`     // control messages not queued: queue full
	CRCErrors       uint64 `json:"crc_errors"`       // damaged on the link
	Malformed       uint64 `json:"malformed"`
	Unknown         uint64 `json:"unknown_type"`
	NotLive         uint64 `json:"not_live"`
	SyncsDeferred   uint64 `json:"syncs_deferred"` // SYNCs within a second of the last one answered: one answer when the second ends
	Reassigned      uint64 `json:"reassigned"`     // blocks taken from a neighbour silent past its timeout and asked of another
	BlockReads      uint64 `json:"block_reads"`    // blocks read from the store to serve
	ReadsSaved      uint64 `json:"reads_saved"`    // blocks served from the copies of the last ones verified (recent.go)
	ReadErrors      uint64 `json:"read_errors"`
	DiskErrors      uint64 `json:"disk_errors"`
}

// snapshot publishes the loop's state for Status and Control.
func (l *loop) snapshot() {
	l.lastSnap = l.now
	st := Status{Files: []FileStatus{}, Transfers: []TransferStatus{}, Neighbours: []NeighbourStatus{},
		StartsPaused: []StartPause{}, Counters: l.counters}
	if l.begins.paused() {
		st.Paused = l.begins.err.Error()
		st.PausedRetryS = max(l.begins.until.Sub(l.now).Seconds(), 0)
	}
	for id, sp := range l.starts {
		st.StartsPaused = append(st.StartsPaused, StartPause{Name: sp.name, Version: sp.version, ID: id.String(),
			Reason: sp.err.Error(), RetryS: max(sp.until.Sub(l.now).Seconds(), 0)})
	}
	sort.Slice(st.StartsPaused, func(i, j int) bool {
		a, b := st.StartsPaused[i], st.StartsPaused[j]
		return a.Name < b.Name || a.Name == b.Name && a.ID < b.ID
	})
	for _, f := range l.files.byID {
		if f.receiving() {
			t := TransferStatus{Name: f.name, Version: f.version, ID: f.id.String(), BlocksHeld: f.nhave,
				BlocksTotal: f.blocks, BytesHeld: f.bytesHave, BytesTotal: f.m.RegionLen(), Resumed: f.resumed,
				Completing: f.phase == phaseVerifying, Seconds: l.now.Sub(f.started).Seconds(), Sources: []SourceStatus{},
				State: "receiving"}
			switch {
			case f.phase == phaseVerifying:
				t.State = "completing"
			case f.pause.paused():
				t.State, t.Reason = "paused", f.pause.err.Error()
				t.RetryS = max(f.pause.until.Sub(l.now).Seconds(), 0)
			}
			var got int64
			for d, s := range f.sources {
				if s.Blocks > 0 {
					s.Dir = packet.Dir(d)
					t.Sources = append(t.Sources, s)
					got += s.Bytes
				}
			}
			if t.Seconds > 0 {
				t.BytesPerS = float64(got) / t.Seconds
			}
			st.Transfers = append(st.Transfers, t)
			continue
		}
		if l.files.byName[f.name] != f {
			continue
		}
		fs := FileStatus{Name: f.name, Version: f.version, Size: f.m.RegionLen(), Blocks: f.blocks,
			Deleted: f.phase == phaseTombstone, ID: f.id.String()}
		if !f.completedAt.IsZero() {
			fs.CompletedAt = f.completedAt.UnixNano()
		}
		st.Files = append(st.Files, fs)
	}
	sort.Slice(st.Files, func(i, j int) bool { return st.Files[i].Name < st.Files[j].Name })
	sort.Slice(st.Transfers, func(i, j int) bool {
		a, b := st.Transfers[i], st.Transfers[j]
		return a.Name < b.Name || a.Name == b.Name && a.Version < b.Version
	})
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		ns := NeighbourStatus{Dir: n.dir, Files: []NeighbourFile{}, InFlight: n.win.inflight, Fetching: len(n.win.asms),
			Serving: n.jobChunks, RTTms: float64(n.win.rtt.SRTT) / float64(time.Millisecond), BytesPerS: n.win.rate,
			BadBlocks: n.badBlocks, Timeouts: n.win.timeouts, NotHave: n.notHaves}
		if n.avoided(l.now) {
			ns.AvoidedS = n.conduct.avoidUntil.Sub(l.now).Seconds()
		}
		for _, rf := range n.byFid {
			ns.Files = append(ns.Files, NeighbourFile{Name: rf.name, Version: rf.version, ID: rf.id.String(),
				Complete: rf.complete, Tombstone: rf.tomb, Held: rf.held(), Total: rf.blocks})
		}
		sort.Slice(ns.Files, func(i, j int) bool {
			a, b := ns.Files[i], ns.Files[j]
			return a.Name < b.Name || a.Name == b.Name && a.Version < b.Version
		})
		st.Neighbours = append(st.Neighbours, ns)
	}
	l.s.publish(st)
}

// StatusFrom finds the service's section among the sections of a tile's
// status: the value itself from an in-process daemon, or its JSON from a
// control socket.
func StatusFrom(sections map[string]any) (Status, bool) {
	switch v := sections[SectionName].(type) {
	case nil:
		return Status{}, false
	case Status:
		return v, true
	case *Status:
		return *v, v != nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return Status{}, false
		}
		var s Status
		if json.Unmarshal(b, &s) != nil {
			return Status{}, false
		}
		return s, true
	}
}

// Progress is one tile's progress on a name: the newest version it holds
// or receives.
type Progress struct {
	Version  int64
	Have     int64 // verified bytes held of those
	Size     int64 // bytes of the file that travel (RegionLen)
	Complete bool  // holds the whole verified file (or its tombstone)
	Deleted  bool  // the newest it knows is a tombstone
	// CompletedAt is when it completed, if it did while running.
	CompletedAt time.Time
}

// ProgressOf reports a tile's progress on name from its status sections, for
// tilegrid's Progress hook and `itcd push --wait`. version 0 means the
// newest the tile knows; otherwise a tile holding an older version has
// made no progress and one holding a newer one counts as complete. ok is
// false if the tile knows nothing of the name.
func ProgressOf(sections map[string]any, name string, version int64) (p Progress, ok bool) {
	s, found := StatusFrom(sections)
	if !found {
		return p, false
	}
	return s.Progress(name, version)
}

// Progress is ProgressOf on a Status.
func (s Status) Progress(name string, version int64) (p Progress, ok bool) {
	var file *FileStatus
	for i := range s.Files {
		if s.Files[i].Name == name {
			file = &s.Files[i]
		}
	}
	var tr *TransferStatus
	for i := range s.Transfers {
		t := &s.Transfers[i]
		if t.Name == name && (version == 0 && (tr == nil || t.Version > tr.Version) || t.Version == version) {
			tr = t
		}
	}
	complete := func(f *FileStatus) Progress {
		p := Progress{Version: f.Version, Have: f.Size, Size: f.Size, Complete: true, Deleted: f.Deleted}
		if f.CompletedAt != 0 {
			p.CompletedAt = time.Unix(0, f.CompletedAt)
		}
		return p
	}
	switch {
	case file != nil && (version == 0 && (tr == nil || file.Version >= tr.Version) || version != 0 && file.Version >= version):
		return complete(file), true
	case tr != nil:
		return Progress{Version: tr.Version, Have: tr.BytesHeld, Size: tr.BytesTotal}, true
	case file != nil:
		return Progress{Version: file.Version, Size: file.Size}, true
	}
	return Progress{}, false
}
