package main

// The synthetic journal: what a central log host holds after a week of recorded sessions
// on a fleet of servers, written in the journal export format and imported with
// systemd-journal-remote, one journal file per host as its --split-mode=host writes them.

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/tlog"
)

// Shape of the journal. Changing any of it changes the journal: bump cacheVersion.
const (
	cacheVersion   = "listbench-v3"
	nHosts         = 10
	nUsers         = 25
	nRecordings    = 1000 // including the one-hour recording
	tlogShare      = 10   // one recording in tlogShare is made by tlog-rec-session
	timelineDays   = 7
	outputTargetMB = 520   // recorded output over all recordings (before escaping), MB
	noiseEntries   = 60000 // sshd, cron and systemd entries of the hosts, between the recordings
	longLength     = 3600 * 1000
	longGoto       = longLength - 10*1000 // --goto 59:50
	frameMarker    = "frame-marker-59:50"
	latencyMicros  = 10_000_000 // tlog's default latency: a partial message is flushed after 10 s
	seed           = 20261123
)

// manifest describes a generated journal; it is stored next to it in the cache.
type manifest struct {
	Version      string  `json:"version"`
	Recordings   int     `json:"recordings"`
	ByRecd       int     `json:"by_recd"`
	ByTlog       int     `json:"by_tlog"`
	Entries      int64   `json:"entries"`
	FirstUs      int64   `json:"first_us"` // the timeline: µs since the epoch
	LastUs       int64   `json:"last_us"`
	Messages     int64   `json:"messages"`
	OutputBytes  int64   `json:"output_bytes"`
	DiskBytes    int64   `json:"disk_bytes"`
	Files        int     `json:"files"`
	LongID       string  `json:"long_id"`
	LongBytes    int64   `json:"long_bytes"`    // output bytes of the one-hour recording
	LongToGoto   int64   `json:"long_to_goto"`  // its output bytes up to longGoto
	LongMessages int64   `json:"long_messages"` // its tlog messages
	GenerateSecs float64 `json:"generate_secs"` // how long generating and importing took
}

// entry is one journal entry in export format order.
type entry struct {
	host     int
	realtime int64 // µs since the epoch
	fields   []field
}

type field struct {
	name  string
	value []byte
}

func f(name, value string) field { return field{name, []byte(value)} }

// source yields the entries of one recording (or one host's other logs) in time order.
type source interface {
	// next returns the next entry; ok is false at the end.
	next() (e entry, ok bool)
}

// hostInfo is one machine of the fleet.
type hostInfo struct {
	name, machineID, bootID string
	bootUs                  int64 // realtime of the boot (µs), for __MONOTONIC_TIMESTAMP
}

type gen struct {
	rng      *rand.Rand
	hosts    []hostInfo
	t0       int64 // µs, start of the timeline
	manifest manifest
}

func hex32(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
}

// generate writes the journal into dir (which must not exist) and returns its manifest.
func generate(dir, remote string, outputMB int, logf func(string, ...any)) (manifest, error) {
	start := time.Now()
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), manifest: manifest{Version: cacheVersion, Recordings: nRecordings}}
	// The timeline ends a day before now, so that relative times (--since -8d) make sense.
	end := time.Now().Add(-24 * time.Hour).Truncate(time.Hour).UnixMicro()
	g.t0 = end - int64(timelineDays)*86400e6
	g.manifest.FirstUs, g.manifest.LastUs = g.t0, end
	for i := 0; i < nHosts; i++ {
		g.hosts = append(g.hosts, hostInfo{
			name:      fmt.Sprintf("web%02d.example.com", i+1),
			machineID: hex32(g.rng), bootID: hex32(g.rng),
			bootUs: g.t0 - 86400e6,
		})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return manifest{}, err
	}

	// One systemd-journal-remote per host, reading the export stream on stdin.
	type sink struct {
		cmd *exec.Cmd
		w   *bufio.Writer
		in  io.WriteCloser
	}
	var sinks []*sink
	for _, h := range g.hosts {
		cmd := exec.Command(remote, "--output="+filepath.Join(dir, "remote-"+h.name+".journal"), "-")
		in, err := cmd.StdinPipe()
		if err != nil {
			return manifest{}, err
		}
		cmd.Stdout = io.Discard
		cmd.Stderr = &limitedBuffer{max: 64 << 10}
		if err := cmd.Start(); err != nil {
			return manifest{}, fmt.Errorf("starting %s: %w", remote, err)
		}
		sinks = append(sinks, &sink{cmd: cmd, in: in, w: bufio.NewWriterSize(in, 1<<20)})
	}

	// The recordings: start times over the timeline, sizes from a heavy-tailed
	// distribution scaled to outputTargetMB in all, the one-hour recording last.
	type plan struct {
		start    int64
		duration int64 // µs
		bytes    int64
	}
	plans := make([]plan, nRecordings-1)
	var sum float64
	weights := make([]float64, len(plans))
	for i := range plans {
		weights[i] = math.Exp(g.rng.NormFloat64() * 1.6)
		sum += weights[i]
	}
	longBytesEstimate := int64(4 << 20)
	budget := float64(int64(outputMB)<<20 - longBytesEstimate)
	for i := range plans {
		d := math.Exp(math.Log(600) + g.rng.NormFloat64()*1.2) // median 10 min
		d = math.Max(5, math.Min(d, 4*3600))
		plans[i] = plan{
			start:    g.t0 + g.rng.Int64N(int64(timelineDays)*86400e6-int64(d*1e6)-7200e6),
			duration: int64(d * 1e6),
			bytes:    int64(math.Max(200, weights[i]/sum*budget)),
		}
	}
	var sources []source
	for i, p := range plans {
		hi := g.rng.IntN(nHosts)
		user := fmt.Sprintf("user%02d", 1+g.rng.IntN(nUsers))
		byRecd := i%tlogShare != tlogShare-1
		sources = append(sources, g.newRec(byRecd, hi, user, p.start, newSession(g.rng, p.bytes, p.duration)))
		if byRecd {
			g.manifest.ByRecd++
		} else {
			g.manifest.ByTlog++
		}
	}
	long := newLongSession(g.rng)
	lr := g.newRec(true, 0, "ops", end-longLength*1000-3600e6, long)
	sources = append(sources, lr)
	g.manifest.ByRecd++
	g.manifest.LongID = lr.id
	for hi := range g.hosts {
		sources = append(sources, g.newNoise(hi, noiseEntries/nHosts, end))
	}

	// Merge the sources by time and write each entry to its host's stream.
	h := &srcHeap{}
	for _, s := range sources {
		if e, ok := s.next(); ok {
			heap.Push(h, &pending{e: e, s: s})
		}
	}
	var lastReport time.Time
	var buf []byte
	for h.Len() > 0 {
		p := (*h)[0]
		e := p.e
		hi := g.hosts[e.host]
		buf = appendExport(buf[:0], e, hi)
		if _, err := sinks[e.host].w.Write(buf); err != nil {
			return manifest{}, fmt.Errorf("writing to systemd-journal-remote: %w", err)
		}
		g.manifest.Entries++
		if n, ok := p.s.next(); ok {
			p.e = n
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			logf("generating: %d entries, %d MB of output so far", g.manifest.Entries, g.manifest.OutputBytes>>20)
		}
	}
	for _, s := range sinks {
		if err := s.w.Flush(); err != nil {
			return manifest{}, err
		}
		s.in.Close()
		if err := s.cmd.Wait(); err != nil {
			return manifest{}, fmt.Errorf("systemd-journal-remote: %w\n%s", err, s.cmd.Stderr.(*limitedBuffer).b.Bytes())
		}
	}
	g.manifest.LongBytes, g.manifest.LongToGoto, g.manifest.LongMessages = long.total, long.toGoto, lr.msgs
	g.manifest.DiskBytes, g.manifest.Files = du(dir)
	g.manifest.GenerateSecs = time.Since(start).Seconds()
	return g.manifest, nil
}

// du returns the bytes and the number of journal files in dir.
func du(dir string) (int64, int) {
	ents, _ := os.ReadDir(dir)
	var n int64
	files := 0
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".journal") {
			n += fi.Size()
			files++
		}
	}
	return n, files
}

type pending struct {
	e entry
	s source
}

type srcHeap []*pending

func (h srcHeap) Len() int           { return len(h) }
func (h srcHeap) Less(i, j int) bool { return h[i].e.realtime < h[j].e.realtime }
func (h srcHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *srcHeap) Push(x any)        { *h = append(*h, x.(*pending)) }
func (h *srcHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// appendExport serializes e in the journal export format: NAME=value lines, or the
// binary form (name, newline, 64-bit little-endian length, bytes, newline) for values
// holding a newline or another control character.
func appendExport(b []byte, e entry, h hostInfo) []byte {
	b = append(b, "__REALTIME_TIMESTAMP="...)
	b = strconv.AppendInt(b, e.realtime, 10)
	b = append(b, "\n__MONOTONIC_TIMESTAMP="...)
	b = strconv.AppendInt(b, e.realtime-h.bootUs, 10)
	b = append(b, "\n_BOOT_ID="...)
	b = append(b, h.bootID...)
	b = append(b, "\n_MACHINE_ID="...)
	b = append(b, h.machineID...)
	b = append(b, "\n_HOSTNAME="...)
	b = append(b, h.name...)
	b = append(b, '\n')
	for _, fl := range e.fields {
		binaryForm := false
		for _, c := range fl.value {
			if c < 0x20 || c == 0x7f {
				binaryForm = true
				break
			}
		}
		if binaryForm {
			b = append(b, fl.name...)
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(fl.value)))
			b = append(b, fl.value...)
		} else {
			b = append(b, fl.name...)
			b = append(b, '=')
			b = append(b, fl.value...)
		}
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// event is one piece of terminal output at a recorder time (whole ms, so the packet
// times a player decodes are exactly these).
type event struct {
	ms   int64
	data []byte
}

// script yields a session's output events in time order.
type script interface {
	nextEvent() (event, bool)
}

// rec is one recording, made by recd (open, message and close entries with the hash
// chain, written by recd's journal writer) or by tlog-rec-session (messages only).
type rec struct {
	g                *gen
	recd             bool
	id, user         string
	host, pid        int
	start            int64 // µs
	sc               script
	enc              *tlog.Encoder
	chain            string
	entryN, msgs     int64
	seq              uint64
	pendingSince     int64 // recorder µs of the first unflushed output, -1 when none
	lastMs           int64
	out              int64
	queue            []entry
	opened, finished bool
}

func (g *gen) newRec(recd bool, host int, user string, start int64, sc script) *rec {
	pid := 1000 + g.rng.IntN(60000)
	h := g.hosts[host]
	id := fmt.Sprintf("%s-%x-%x", h.bootID, pid, 100000+g.rng.IntN(1<<24))
	r := &rec{g: g, recd: recd, id: id, user: user, host: host, pid: pid, start: start, sc: sc,
		chain: chain.Seed(id), pendingSince: -1}
	r.enc = tlog.NewEncoder(tlog.Header{Host: h.name, Rec: id, User: user, Term: "xterm-256color", Session: uint32(g.rng.IntN(5000))},
		tlog.EncoderOptions{StartUnixMicro: start})
	return r
}

func (r *rec) trusted() []field {
	if r.recd {
		return []field{f("_UID", "0"), f("_GID", "0"), f("_COMM", "tlog-rec-sessio"), f("_EXE", "/usr/sbin/recd"),
			f("_CMDLINE", "/usr/sbin/recd --journal-writer"), f("_PID", "812"), f("_TRANSPORT", "journal"),
			f("_SYSTEMD_UNIT", "recd.service"), f("_SYSTEMD_CGROUP", "/system.slice/recd.service"), f("_SYSTEMD_SLICE", "system.slice"),
			f("_CAP_EFFECTIVE", "1ffffffffff"), f("CODE_FILE", "journalwriter.go")}
	}
	return []field{f("_UID", "994"), f("_GID", "991"), f("_COMM", "tlog-rec-sessio"), f("_EXE", "/usr/bin/tlog-rec-session"),
		f("_CMDLINE", "-tlog-rec-session"), f("_PID", strconv.Itoa(r.pid)), f("_TRANSPORT", "journal"),
		f("_AUDIT_SESSION", "42"), f("_AUDIT_LOGINUID", "1001"), f("_SYSTEMD_UNIT", "session-42.scope"),
		f("SYSLOG_IDENTIFIER", "-tlog-rec-session"), f("CODE_FILE", "journal_json_writer.c"),
		f("CODE_FUNC", "tlog_journal_json_writer_write"), f("CODE_LINE", "83")}
}

// add queues an entry at recorder time us; recd's entries get RECD_REC … RECD_CHAIN.
func (r *rec) add(us int64, event string, fields []field) {
	if r.recd {
		r.entryN++
		fields = append(fields, f("RECD_REC", r.id), f("RECD_ENTRY", strconv.FormatInt(r.entryN, 10)),
			f("RECD_EVENT", event), f("SYSLOG_IDENTIFIER", "recd"))
		m := make(map[string][]byte, len(fields))
		for _, fl := range fields {
			m[fl.name] = fl.value
		}
		r.chain = chain.Next(r.chain, m)
		fields = append(fields, f(chain.Field, r.chain))
	}
	fields = append(fields, r.trusted()...)
	// journald receives it a little after the recorder's time.
	r.queue = append(r.queue, entry{host: r.host, realtime: r.start + us + 300, fields: fields})
}

func (r *rec) message(us int64, m tlog.Message) {
	r.msgs++
	r.g.manifest.Messages++
	fields := []field{{"MESSAGE", m.JSON}, f("PRIORITY", "6"), f("TLOG_REC", r.id), f("TLOG_USER", r.user),
		f("TLOG_SESSION", "42"), f("TLOG_ID", strconv.FormatUint(m.ID, 10))}
	if r.recd {
		fields = append(fields, f("RECD_NEXT", fmt.Sprintf("%d:%d", m.Next.Seq, m.Next.Skip)))
		if m.Window != nil {
			fields = append(fields, f("RECD_WINDOW", fmt.Sprintf("%dx%d", m.Window.Cols, m.Window.Rows)))
		}
		fields = append(fields, f("RECD_ORIGIN_US", strconv.FormatUint(m.OriginMicros, 10)),
			f("RECD_LAST_US", strconv.FormatUint(m.LastMicros, 10)))
	}
	r.add(us, "message", fields)
}

func (r *rec) next() (entry, bool) {
	for len(r.queue) == 0 {
		if r.finished {
			return entry{}, false
		}
		r.step()
	}
	e := r.queue[0]
	r.queue = r.queue[1:]
	return e, true
}

// step feeds the Encoder one event (or ends the recording) and queues what it produced.
func (r *rec) step() {
	if !r.opened {
		r.opened = true
		if r.recd {
			r.add(0, "open", []field{f("MESSAGE_ID", "a5396ace7014482f89b10ad18209aba6"),
				f("MESSAGE", fmt.Sprintf("recording %s of %s started: sshd on /dev/pts/3 from 10.20.%d.%d", r.id, r.user, r.host, r.pid%250)),
				f("RECD_USER", r.user), f("RECD_UID", "1001"), f("RECD_SERVICE", "sshd"), f("RECD_TTY", "/dev/pts/3"),
				f("RECD_RHOST", fmt.Sprintf("10.20.%d.%d", r.host, r.pid%250)), f("RECD_MODE", "tty"), f("RECD_TERM", "xterm-256color"),
				f("RECD_SHELL", "/bin/bash"), f("RECD_AUDIT_SESSION", "42"), f("RECD_RECORDER_PID", strconv.Itoa(r.pid)),
				f("PRIORITY", "6")})
		}
		r.seq++
		for _, m := range r.enc.Window(r.seq, 0, tlog.Window{Cols: 120, Rows: 40}) {
			r.message(0, m)
		}
		r.pendingSince = 0
		return
	}
	ev, ok := r.sc.nextEvent()
	us := ev.ms * 1000
	if ok && r.pendingSince >= 0 && us-r.pendingSince >= latencyMicros {
		// tlog's latency timer fired before this output: the partial message goes out.
		for _, m := range r.enc.Flush() {
			r.message(r.pendingSince+latencyMicros, m)
		}
		r.pendingSince = -1
	}
	if !ok {
		for _, m := range r.enc.Cut() {
			r.message(r.lastMs*1000, m)
		}
		if r.recd {
			r.add(r.lastMs*1000+2000, "close", []field{f("MESSAGE_ID", "f2488270cfa24aa49a7e96c3b2d049bd"),
				f("MESSAGE", fmt.Sprintf("recording %s of %s ended: complete (exit), %d messages, %d bytes of output recorded", r.id, r.user, r.msgs, r.out)),
				f("RECD_STATUS", "complete"), f("RECD_REASON", "exit"), f("RECD_MESSAGES", strconv.FormatInt(r.msgs, 10)),
				f("RECD_BYTES_OUT", strconv.FormatInt(r.out, 10)), f("RECD_BYTES_IN", "0"),
				f("RECD_RELAYED_OUT", strconv.FormatInt(r.out, 10)), f("RECD_RELAYED_IN", "311"), f("RECD_RELAYED_ERR", "0"),
				f("RECD_DROPPED_BYTES", "0"), f("RECD_LOST_BYTES", "0"), f("RECD_EXIT_STATUS", "0"),
				f("RECD_DURATION_US", strconv.FormatInt(r.lastMs*1000, 10)), f("PRIORITY", "6")})
		}
		r.finished = true
		return
	}
	r.seq++
	r.lastMs = ev.ms
	r.out += int64(len(ev.data))
	r.g.manifest.OutputBytes += int64(len(ev.data))
	for _, m := range r.enc.Output(r.seq, uint64(us), ev.data) {
		r.message(us, m)
	}
	switch {
	case !r.enc.Pending():
		r.pendingSince = -1
	case r.pendingSince < 0:
		r.pendingSince = us
	}
}

// session is an interactive shell session: a prompt, a command typed key by key (each
// key echoed), the command's output in 4 KiB reads a few ms apart, then a pause.
type session struct {
	rng          *rand.Rand
	left         int64 // output bytes still to produce
	ms, endMs    int64
	cmds         int
	queue        []event
	thinkPerByte float64
}

func newSession(rng *rand.Rand, bytes, durationUs int64) *session {
	s := &session{rng: rng, left: bytes, endMs: durationUs / 1000}
	// Spread the pauses so that the session lasts about its duration.
	s.thinkPerByte = float64(s.endMs) / float64(bytes+1)
	return s
}

var commands = []string{"ls -l /var/log", "tail -n 200 /var/log/app/server.log", "journalctl -u nginx --since today",
	"ps aux", "df -h", "git log --stat", "sudo systemctl status postgresql", "cat /etc/nginx/nginx.conf",
	"grep -r timeout /etc/app", "top -b -n 1", "dmesg | tail -50", "kubectl get pods -A"}

var words = strings.Fields("request response worker queue timeout connection client server upstream cache " +
	"session token user admin backup database index query latency error warning info debug retry " +
	"started finished failed accepted closed opened reading writing sync flush commit rollback")

func (s *session) nextEvent() (event, bool) {
	for len(s.queue) == 0 {
		if s.left <= 0 {
			return event{}, false
		}
		s.command()
	}
	e := s.queue[0]
	s.queue = s.queue[1:]
	return e, true
}

func (s *session) at(gap int64, data []byte) {
	s.ms += gap
	s.queue = append(s.queue, event{ms: s.ms, data: data})
	s.left -= int64(len(data))
}

func (s *session) command() {
	r := s.rng
	s.cmds++
	s.at(1+r.Int64N(20), []byte(fmt.Sprintf("\x1b]0;%s@web: ~\x07\x1b[01;32muser@web\x1b[00m:\x1b[01;34m~\x1b[00m$ ", "user")))
	cmd := commands[r.IntN(len(commands))]
	for i := 0; i < len(cmd); i++ {
		s.at(60+r.Int64N(180), []byte{cmd[i]})
	}
	s.at(100+r.Int64N(200), []byte("\r\n"))
	// Output: lognormal around 8 KiB, at most what is left.
	n := int64(math.Exp(math.Log(8192) + r.NormFloat64()*1.5))
	if n > s.left {
		n = s.left
	}
	var out []byte
	for int64(len(out)) < n {
		out = appendLine(out, r)
	}
	for len(out) > 0 {
		k := min(len(out), 4096)
		s.at(1+r.Int64N(4), out[:k])
		out = out[k:]
	}
	think := int64(float64(n+400) * s.thinkPerByte * (0.3 + 1.4*r.Float64()))
	if think < 300 {
		think = 300 + r.Int64N(3000)
	}
	s.ms += think
}

// appendLine appends one line of typical terminal output.
func appendLine(b []byte, r *rand.Rand) []byte {
	switch r.IntN(4) {
	case 0: // ls -l
		b = fmt.Appendf(b, "-rw-r--r-- 1 %s %s %8d Nov %2d %02d:%02d %s-%x.log\r\n", words[r.IntN(len(words))], "adm",
			r.IntN(1<<24), 1+r.IntN(30), r.IntN(24), r.IntN(60), words[r.IntN(len(words))], r.Uint32())
	case 1: // colored ls
		b = fmt.Appendf(b, "\x1b[01;34m%s\x1b[0m  \x1b[01;32m%s.sh\x1b[0m  %s.conf  %s_%d.txt\r\n", words[r.IntN(len(words))],
			words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(1000))
	default: // application log
		b = fmt.Appendf(b, "2026-11-%02dT%02d:%02d:%02d.%03dZ %s [%s-%d] %s %s id=%08x took %dms path=/api/v1/%s/%d\r\n",
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000),
			[]string{"INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"}[r.IntN(6)], words[r.IntN(len(words))], r.IntN(16),
			words[r.IntN(len(words))], words[r.IntN(len(words))], r.Uint32(), r.IntN(900), words[r.IntN(len(words))], r.IntN(100000))
	}
	return b
}

// longSession is the one-hour recording: `tail -f` of a busy log, a line every few
// hundred ms, and a status screen redrawn every 3 s (like watch(1)), for 3600 s. A line
// at exactly the --goto point carries frameMarker, so the benchmark sees when the first
// frame (everything up to that point) has arrived.
type longSession struct {
	rng                *rand.Rand
	nextLine, nextDraw int64 // ms
	marked             bool
	total, toGoto      int64
}

func newLongSession(rng *rand.Rand) *longSession {
	return &longSession{rng: rng, nextLine: 200, nextDraw: 3000}
}

func (l *longSession) nextEvent() (event, bool) {
	r := l.rng
	var ev event
	switch {
	case !l.marked && longGoto <= l.nextLine && longGoto <= l.nextDraw:
		ev = event{ms: longGoto, data: appendLine([]byte(frameMarker+" "), r)}
		l.marked = true
	case l.nextDraw <= l.nextLine && l.nextDraw <= longLength:
		var b []byte
		b = append(b, "\x1b7"...)
		for row := 1; row <= 12; row++ {
			b = fmt.Appendf(b, "\x1b[%d;1H\x1b[2K\x1b[7m %-10s\x1b[0m cpu %3d%%  mem %5d MiB  conns %5d  q %4d  %s",
				row, words[(row*7)%len(words)], r.IntN(100), 512+r.IntN(8000), r.IntN(20000), r.IntN(500), strings.Repeat("#", r.IntN(40)))
		}
		ev = event{ms: l.nextDraw, data: append(b, "\x1b8"...)}
		l.nextDraw += 3000
	case l.nextLine <= longLength:
		ev = event{ms: l.nextLine, data: appendLine(nil, r)}
		l.nextLine += 250 + r.Int64N(150)
	default:
		return event{}, false
	}
	l.total += int64(len(ev.data))
	if ev.ms <= longGoto {
		l.toGoto += int64(len(ev.data))
	}
	return ev, true
}

// noise is a host's other logs: sshd, cron, systemd.
type noise struct {
	g          *gen
	host, left int
	t, end     int64
	step       int64
}

func (g *gen) newNoise(host, n int, end int64) *noise {
	return &noise{g: g, host: host, left: n, t: g.t0, end: end, step: (end - g.t0) / int64(n)}
}

func (n *noise) next() (entry, bool) {
	if n.left == 0 {
		return entry{}, false
	}
	n.left--
	r := n.g.rng
	n.t += n.step/2 + r.Int64N(n.step)
	var fields []field
	switch r.IntN(3) {
	case 0:
		fields = []field{f("MESSAGE", fmt.Sprintf("Accepted publickey for user%02d from 10.20.%d.%d port %d ssh2: ED25519 SHA256:%x", 1+r.IntN(nUsers), r.IntN(255), r.IntN(255), 30000+r.IntN(30000), r.Uint64())),
			f("SYSLOG_IDENTIFIER", "sshd"), f("_COMM", "sshd"), f("_EXE", "/usr/sbin/sshd"), f("_UID", "0"), f("PRIORITY", "6"),
			f("_PID", strconv.Itoa(1000+r.IntN(60000))), f("_SYSTEMD_UNIT", "ssh.service"), f("_TRANSPORT", "syslog")}
	case 1:
		fields = []field{f("MESSAGE", fmt.Sprintf("(root) CMD (/usr/local/bin/backup --incremental --target /srv/backup/%d)", r.IntN(100))),
			f("SYSLOG_IDENTIFIER", "CRON"), f("_COMM", "cron"), f("_EXE", "/usr/sbin/cron"), f("_UID", "0"), f("PRIORITY", "6"),
			f("_PID", strconv.Itoa(1000+r.IntN(60000))), f("_SYSTEMD_UNIT", "cron.service"), f("_TRANSPORT", "syslog")}
	default:
		fields = []field{f("MESSAGE", fmt.Sprintf("Started session-%d.scope - Session %d of User user%02d.", r.IntN(9000), r.IntN(9000), 1+r.IntN(nUsers))),
			f("SYSLOG_IDENTIFIER", "systemd"), f("_COMM", "systemd"), f("_EXE", "/usr/lib/systemd/systemd"), f("_UID", "0"), f("PRIORITY", "6"),
			f("_PID", "1"), f("_TRANSPORT", "journal"), f("CODE_FILE", "src/core/unit.c")}
	}
	return entry{host: n.host, realtime: n.t, fields: fields}, true
}

func writeManifest(path string, m manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readManifest(path string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
