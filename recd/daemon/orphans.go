package daemon

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/recd/journalwriter"
)

// Recordings a crash left open.
//
// A recording is closed by its recorder (complete) or, when the recorder vanishes, by the
// recd that has it (aborted). If the recorder dies while no recd runs, or recd is killed
// with the close entry still in its queue, no recd ever learns of it: the recording
// would stay open ("live") forever. So when recd starts, it looks for recordings of this
// boot that have an open entry and no close entry, and closes those whose recorder is
// gone as aborted, continuing their chain from the journal (as a resume would). Those
// whose recorder lives are left to it: it resumes them.

// orphanReadTimeout bounds reading one orphan back from the journal.
const orphanReadTimeout = 2 * time.Minute

// listOpenFunc returns the recordings of this boot with an open and no close entry.
type listOpenFunc func(ctx context.Context) ([]string, error)

// closeOrphans closes the recordings listed by list whose recorder process is gone.
func (d *Daemon) closeOrphans(ctx context.Context, list listOpenFunc) {
	recs, err := list(ctx)
	if err != nil {
		d.opts.Log.Printf("looking for recordings a crash left open: %v", err)
		return
	}
	for _, rec := range recs {
		pid, start, ok := d.parseRecID(rec)
		if !ok || d.recs.get(rec) != nil {
			continue
		}
		if p, err := d.proc(pid); err == nil && p.Start == start {
			continue // its recorder lives and resumes it
		}
		if !d.recs.startRead(rec) {
			continue
		}
		d.closeOrphan(ctx, rec, procRef{pid: pid, start: start})
		d.recs.endRead(rec)
	}
}

func (d *Daemon) closeOrphan(ctx context.Context, rec string, recorder procRef) {
	ctx, cancel := context.WithTimeout(ctx, orphanReadTimeout)
	defer cancel()
	select {
	case d.resumeSem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	st, err := d.loadRecording(ctx, rec)
	<-d.resumeSem
	if err != nil || !st.found || st.closed || !st.hasUID {
		if err != nil {
			d.opts.Log.Printf("recording %s: left open by a crash, but cannot be read back: %v", rec, err)
		}
		return
	}
	r := d.newRecording(rec, st.uid, st.user, recorder, proto.AuditSessionUnset, loginInfo{}, proto.RecordOpen{Mode: proto.ModeTTY}, d.recorderConfig())
	r.restore(st)
	if _, err := d.recs.claim(r, nil, false); err != nil {
		return // its recorder came back meanwhile after all
	}
	defer d.recs.release(r)
	d.opts.Log.Printf("recording %s of %s: left open by a crash of recd, its recorder pid %d gone: closing it as aborted", rec, logValue(st.user), recorder.pid)
	r.abort("the recorder exited while recd was not running")
	r.waitWritten(orphanReadTimeout)
}

// parseRecID reads the recorder's PID and start time from a recording ID of this boot
// (recID: "<boot>-<pid hex>-<start hex>").
func (d *Daemon) parseRecID(rec string) (int32, uint64, bool) {
	rest, ok := strings.CutPrefix(rec, d.bootID+"-")
	if !ok || d.bootID == "" {
		return 0, 0, false
	}
	p, s, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	pid, err1 := strconv.ParseInt(p, 16, 32)
	start, err2 := strconv.ParseUint(s, 16, 64)
	return int32(pid), start, err1 == nil && err2 == nil && pid > 0
}

// systemOpenRecordings lists, from the system journal, the recordings of this boot with an
// open and no close entry.
func (d *Daemon) systemOpenRecordings(ctx context.Context) ([]string, error) {
	ids := func(event string) (map[string]bool, error) {
		set := map[string]bool{}
		err := journal.Source{}.ForEach(ctx, journal.Query{Matches: []string{
			"RECD_EVENT=" + event, "_UID=0", "_BOOT_ID=" + d.bootID}}, func(e journal.Entry) error {
			if rec := e.Get("RECD_REC"); rec != "" {
				set[rec] = true
			}
			return nil
		})
		return set, err
	}
	opened, err := ids("open")
	if err != nil {
		return nil, err
	}
	closed, err := ids("close")
	if err != nil {
		return nil, err
	}
	var out []string
	for rec := range opened {
		if !closed[rec] {
			out = append(out, rec)
		}
	}
	return out, nil
}

// sweepOrphans runs closeOrphans on the system journal, once recd is up; only when recd
// writes to the system's journald (not in tests with a journal of their own).
func (d *Daemon) sweepOrphans() {
	if d.bootID == "" || d.writer == nil || d.opts.JournalSocket != journalwriter.DefaultSocket {
		return
	}
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-d.quit
			cancel()
		}()
		d.closeOrphans(ctx, d.systemOpenRecordings)
	}()
}
