package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/recording"
	"github.com/recd-dev/recd/internal/tlog"
	"github.com/recd-dev/recd/tests/testhost"
)

// RecordingCheck is what the check found for one recording.
type RecordingCheck struct {
	ID        string
	Tag       string // the session's tag found in the replayed output
	Status    string // of the close entry
	Reason    string
	Entries   int
	Messages  int
	Replayed  int64       // output bytes replayed
	LostNoted int64       // bytes the recording says were lost (lost notes)
	LostAt    []time.Time // when each lost note was written
	Dropped   int64       // RECD_DROPPED_BYTES of the close entry
	// Compared with the driver's terminal:
	Shown       int64 // bytes shown after the notice
	KilledTail  int64 // shown after the last recorded byte of a killed recorder's session
	Resumed     int   // resumed notes (recd restarted)
	LastWindow  string
	Problems    []string
	SessionKill bool
}

var recTagRe = regexp.MustCompile(`LOADTAG-(\d+)-(\d+)-(\d+)\r?\n`)

// check reads every recording back and compares it with its session.
func (r *runner) check(rep *Report) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	all, _, err := r.recordingIDs(ctx)
	if err != nil {
		r.fail("listing recordings: %v", err)
	}
	r.mu.Lock()
	results := append([]*SessionResult(nil), r.results...)
	r.mu.Unlock()
	byTag := map[string]*SessionResult{}
	for _, s := range results {
		if s.Tag != "" {
			byTag[s.Tag] = s
		}
	}
	src := journal.Source{Directory: r.h.Path("/var/log/journal")}

	checks := make([]*RecordingCheck, len(all))
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				checks[i] = r.checkRecording(ctx, src, all[i], byTag)
			}
		}()
	}
	for i := range all {
		work <- i
	}
	close(work)
	wg.Wait()

	seen := map[string]string{}
	for _, c := range checks {
		if c.LostNoted > 0 && !r.cfg.Chaos {
			// Said, but without any fault: the recording path did not keep up.
			c.Problems = append(c.Problems, fmt.Sprintf("%d bytes lost (recorder buffer overrun) without any fault", c.LostNoted))
		}
		rep.Recordings = append(rep.Recordings, *c)
		for _, p := range c.Problems {
			r.fail("recording %s (%s): %s", c.ID, orDash(c.Tag), p)
		}
		if c.Tag != "" {
			if prev, dup := seen[c.Tag]; dup {
				r.fail("recordings %s and %s both hold session %s", prev, c.ID, c.Tag)
			}
			seen[c.Tag] = c.ID
		}
	}
	for _, s := range results {
		rep.Sessions = append(rep.Sessions, *s)
		switch {
		case s.Err != "" && !s.Killed:
			r.fail("session %d/%d of %s: the driver failed: %s", s.Driver, s.Index, s.User, s.Err)
		case s.Tag == "":
			r.fail("session %d/%d of %s: never got going", s.Driver, s.Index, s.User)
		case seen[s.Tag] == "":
			r.fail("session %s of %s: no recording holds it", s.Tag, s.User)
		}
	}
	r.resumeTimes(ctx, rep)
	r.mu.Lock()
	rep.Failures = append(rep.Failures, r.failures...)
	r.mu.Unlock()
	rep.summarize()
}

// resumeTimes measures, for each kill -9 of recd, how long the recorders took to get
// their recordings back: the times of the resumed notes written after it.
func (r *runner) resumeTimes(ctx context.Context, rep *Report) {
	js, err := exec.CommandContext(ctx, "journalctl", "--directory="+r.h.Path("/var/log/journal"), "--no-pager",
		"-o", "json", "RECD_NOTE=resumed", "_UID=0").Output()
	if err != nil {
		return
	}
	ents, _ := testhost.DecodeJournalJSON(js)
	var ts []time.Time
	for _, e := range ents {
		if us, err := strconv.ParseInt(testhost.Field(e, "__REALTIME_TIMESTAMP"), 10, 64); err == nil {
			ts = append(ts, time.UnixMicro(us))
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var kills []time.Time
	for _, e := range rep.Chaos {
		if e.Kind == chaosRecdKill {
			kills = append(kills, rep.Start.Add(e.At))
		}
	}
	for i, k := range kills {
		end := rep.LoadEnd.Add(10 * time.Minute)
		if i+1 < len(kills) {
			end = kills[i+1]
		}
		var lat []time.Duration
		for _, t := range ts {
			if t.After(k) && t.Before(end) {
				lat = append(lat, t.Sub(k))
			}
		}
		rr := ResumeRound{At: k.Sub(rep.Start), Resumed: len(lat)}
		if len(lat) > 0 {
			rr.Median, rr.Last = lat[len(lat)/2], lat[len(lat)-1]
		}
		rep.Resumes = append(rep.Resumes, rr)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkRecording verifies one recording (recording.Verify: trusted writer, RECD_ENTRY and
// TLOG_ID contiguous, hash chain, open first, close last) and compares its output with the
// transcript of its session.
func (r *runner) checkRecording(ctx context.Context, src journal.Source, id string, byTag map[string]*SessionResult) *RecordingCheck {
	c := &RecordingCheck{ID: id}
	rec, err := recording.Load(ctx, src, id)
	if err != nil {
		c.Problems = append(c.Problems, "loading: "+err.Error())
		return c
	}
	rep := recording.Verify(rec)
	c.Entries, c.Messages = rep.Entries, rep.Messages
	for _, p := range rep.Problems {
		c.Problems = append(c.Problems, "verify: "+p.String())
	}
	if len(c.Problems) > 6 {
		c.Problems = append(c.Problems[:6], fmt.Sprintf("… and %d more verify problems", len(rep.Problems)-6))
	}

	// The stream of the recording in RECD_ENTRY order: output bytes, and gaps where a lost
	// note says bytes were lost.
	type segment struct {
		data []byte
		lost int64
	}
	var segs []segment
	var ents []journal.Entry
	for _, e := range rec.Entries {
		if recording.GenuineRecd(e, id) {
			ents = append(ents, e)
		}
	}
	sort.SliceStable(ents, func(i, j int) bool {
		a, _ := ents[i].Int(recording.FieldEntry)
		b, _ := ents[j].Int(recording.FieldEntry)
		return a < b
	})
	dec := &tlog.Decoder{} // strict: message ids 1, 2, 3…
	walk := sha256.New()
	var closeEnt journal.Entry
	for _, e := range ents {
		switch e.Get(recording.FieldEvent) {
		case recording.EventMessage:
			pkts, err := recording.DecodeEntry(dec, e)
			if err != nil {
				c.Problems = append(c.Problems, "decode: "+err.Error())
				continue
			}
			for _, p := range pkts {
				switch p.Kind {
				case tlog.PacketOutput:
					segs = append(segs, segment{data: p.Data})
					walk.Write(p.Data)
					c.Replayed += int64(len(p.Data))
				case tlog.PacketWindow:
					c.LastWindow = fmt.Sprintf("%dx%d", p.Cols, p.Rows)
				}
			}
		case recording.EventNote:
			switch e.Get(recording.FieldNote) {
			case "lost":
				n, _ := strconv.ParseInt(e.Get("RECD_BYTES"), 10, 64)
				segs = append(segs, segment{lost: n})
				c.LostNoted += n
				c.LostAt = append(c.LostAt, e.Realtime())
			case "resumed":
				c.Resumed++
			}
		case recording.EventClose:
			closeEnt = e
		}
	}
	if closeEnt != nil {
		c.Status, c.Reason = closeEnt.Get(recording.FieldStatus), closeEnt.Get(recording.FieldReason)
		c.Dropped, _ = closeEnt.Int("RECD_DROPPED_BYTES")
		if n, ok := closeEnt.Int("RECD_LOST_BYTES"); !ok || n != c.LostNoted {
			c.Problems = append(c.Problems, fmt.Sprintf("close entry: RECD_LOST_BYTES=%s, but the lost notes say %d", closeEnt.Get("RECD_LOST_BYTES"), c.LostNoted))
		}
		if n, ok := closeEnt.Int(recording.FieldBytesOut); !ok || n != c.Replayed {
			c.Problems = append(c.Problems, fmt.Sprintf("close entry: RECD_BYTES_OUT=%s, but %d bytes replay", closeEnt.Get(recording.FieldBytesOut), c.Replayed))
		}
	}

	// The playback model (recctl play --raw) must give exactly the same bytes.
	if pkts, err := rec.Decode(false); err != nil {
		c.Problems = append(c.Problems, "replay: "+err.Error())
	} else {
		h := sha256.New()
		pl := recording.NewPlayer(pkts)
		if err := pl.AdvanceTo(h, math.MaxInt64); err != nil || !bytes.Equal(h.Sum(nil), walk.Sum(nil)) {
			c.Problems = append(c.Problems, "the player's output differs from the recording's messages")
		}
	}

	// Which session is it?
	var head []byte
	for _, s := range segs {
		if len(head) > 64<<10 {
			break
		}
		head = append(head, s.data...)
	}
	m := recTagRe.FindSubmatch(head)
	if m == nil {
		c.Problems = append(c.Problems, fmt.Sprintf("no session tag in the first %d bytes of output (status %s)", len(head), c.Status))
		return c
	}
	c.Tag = fmt.Sprintf("LOADTAG-%s-%s-%s", m[1], m[2], m[3])
	s := byTag[c.Tag]
	if s == nil {
		c.Problems = append(c.Problems, "no driver ran this session")
		return c
	}
	c.SessionKill = s.Killed

	// Expected status.
	switch {
	case s.Killed:
		if c.Status != string(recording.StatusAborted) {
			c.Problems = append(c.Problems, fmt.Sprintf("its recorder was killed, but the recording is closed %q (%s), not aborted", c.Status, c.Reason))
		}
	case c.LostNoted > 0 || c.Dropped > 0:
		if c.Status != string(recording.StatusTruncated) {
			c.Problems = append(c.Problems, fmt.Sprintf("%d bytes lost, but the recording is closed %q, not truncated", c.LostNoted, c.Status))
		}
	default:
		if c.Status != string(recording.StatusComplete) {
			c.Problems = append(c.Problems, fmt.Sprintf("closed %q (%s), want complete", c.Status, c.Reason))
		}
	}
	if !s.Killed && s.Rows > 0 && c.LastWindow != fmt.Sprintf("%dx%d", s.Cols, s.Rows) {
		c.Problems = append(c.Problems, fmt.Sprintf("the last window in the recording is %s, the driver's was %dx%d", c.LastWindow, s.Cols, s.Rows))
	}

	// Byte for byte against the driver's terminal, from the notice on.
	f, err := os.Open(s.Transcript)
	if err != nil {
		c.Problems = append(c.Problems, "transcript: "+err.Error())
		return c
	}
	defer f.Close()
	fi, _ := f.Stat()
	br := bufio.NewReaderSize(f, 1<<20)
	start, err := findNotice(br, r.notice)
	if err != nil {
		c.Problems = append(c.Problems, "transcript: "+err.Error())
		return c
	}
	c.Shown = fi.Size() - start
	if closeEnt != nil && !s.Killed {
		if n, ok := closeEnt.Int("RECD_RELAYED_OUT"); !ok || n != c.Shown {
			c.Problems = append(c.Problems, fmt.Sprintf("close entry: RECD_RELAYED_OUT=%s, but the terminal showed %d bytes", closeEnt.Get("RECD_RELAYED_OUT"), c.Shown))
		}
	}
	pos := start
	buf := make([]byte, 64<<10)
	mismatch := false
	for _, sg := range segs {
		if sg.lost > 0 {
			n, err := br.Discard(int(sg.lost))
			pos += int64(n)
			if err != nil {
				c.Problems = append(c.Problems, fmt.Sprintf("a lost note of %d bytes at offset %d goes past the end of what the terminal showed", sg.lost, pos-start))
				mismatch = true
				break
			}
			continue
		}
		d := sg.data
		for len(d) > 0 && !mismatch {
			n := min(len(d), len(buf))
			k, err := io.ReadFull(br, buf[:n])
			if err != nil && s.Err != "" && firstDiff(buf[:k], d[:k]) < 0 {
				// The driver failed and killed ssh: the shell's last words were recorded
				// but never reached this terminal. The failure is reported already.
				mismatch = true
				break
			}
			if i := firstDiff(buf[:k], d[:n]); i >= 0 || err != nil {
				at := pos + int64(max(i, 0))
				if i < 0 {
					at = pos + int64(k)
				}
				c.Problems = append(c.Problems, fmt.Sprintf("replay differs from the terminal at byte %d after the notice: recorded %q, shown %q",
					at-start, snippet(d, max(i, 0)), snippet(buf[:k], max(i, 0))))
				mismatch = true
				break
			}
			pos += int64(n)
			d = d[n:]
		}
		if mismatch {
			break
		}
	}
	if !mismatch {
		rest := fi.Size() - pos
		switch {
		case s.Killed:
			c.KilledTail = rest
		case rest > 0:
			tail := make([]byte, min(rest, 200))
			_, _ = io.ReadFull(br, tail)
			c.Problems = append(c.Problems, fmt.Sprintf("the terminal showed %d bytes after the last recorded one: %q…", rest, tail))
		}
	}
	return c
}

// findNotice reads up to the end of the recording notice's line and returns the offset of
// the next byte.
func findNotice(br *bufio.Reader, notice string) (int64, error) {
	var seen []byte
	for len(seen) < 1<<20 {
		line, err := br.ReadBytes('\n')
		seen = append(seen, line...)
		if bytes.Contains(line, []byte(notice)) {
			return int64(len(seen)), nil
		}
		if err != nil {
			break
		}
	}
	return 0, fmt.Errorf("no recording notice %q (the terminal showed %q…)", notice, snippet(seen, 0))
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func snippet(b []byte, at int) string {
	from := max(0, at-40)
	to := min(len(b), at+60)
	if from > to {
		return ""
	}
	return string(b[from:to])
}
