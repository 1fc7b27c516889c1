package load

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Config  Config
	Host    string
	Machine string
	Start   time.Time
	LoadEnd time.Time

	Sessions      []SessionResult
	Recordings    []RecordingCheck
	Chaos         []ChaosEvent
	Metrics       Metrics
	MaxConcurrent int
	JournalBefore int64
	JournalAfter  int64
	Failures      []string
	TranscriptDir string // kept when the run failed

	// Totals (summarize).
	Logins          int
	KilledSessions  int
	Complete        int
	Truncated       int
	Aborted         int
	Entries         int
	Messages        int
	ShownBytes      int64 // after the notice, every session
	RecordedBytes   int64 // replayed from the recordings
	LostNotedBytes  int64 // said lost by lost notes (buffer overrun)
	KilledTailBytes int64 // shown but not recorded because the recorder was killed
	ResumedNotes    int
	Steps           map[string]int
	// Resumes: for each kill -9 of recd, how soon the recordings were resumed.
	Resumes []ResumeRound
}

// ResumeRound is how the recordings came back after one kill -9 of recd.
type ResumeRound struct {
	At           time.Duration // the kill, since the start of the load
	Resumed      int
	Median, Last time.Duration // after the kill
}

func (r *Report) summarize() {
	r.Steps = map[string]int{}
	r.Logins = len(r.Sessions)
	for _, s := range r.Sessions {
		if s.Killed {
			r.KilledSessions++
		}
		for k, n := range s.Steps {
			r.Steps[k] += n
		}
	}
	for _, c := range r.Recordings {
		switch c.Status {
		case "complete":
			r.Complete++
		case "truncated":
			r.Truncated++
		case "aborted":
			r.Aborted++
		}
		r.Entries += c.Entries
		r.Messages += c.Messages
		r.ShownBytes += c.Shown
		r.RecordedBytes += c.Replayed
		r.LostNotedBytes += c.LostNoted
		r.KilledTailBytes += c.KilledTail
		r.ResumedNotes += c.Resumed
	}
}

// OK reports whether the run found nothing wrong.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// Text is the report as Markdown, the form RELIABILITY.md quotes.
func (r *Report) Text() string {
	var b strings.Builder
	cfg := r.Config
	load := r.LoadEnd.Sub(r.Start)
	mode := "no faults"
	switch {
	case cfg.Chaos:
		mode = "chaos (`CHAOS=1`)"
	case cfg.RecdKills > 0:
		mode = fmt.Sprintf("%d kill -9 of recd", cfg.RecdKills)
	}
	verdict := "PASS"
	if !r.OK() {
		verdict = fmt.Sprintf("FAIL (%d problems)", len(r.Failures))
	}
	fmt.Fprintf(&b, "### %d sessions × %v, %s — %s\n\n", cfg.Sessions, cfg.Duration, mode, verdict)
	fmt.Fprintf(&b, "%s; machine: %s; seed %d.\n\n", r.Start.UTC().Format("2006-01-02 15:04 UTC"), r.Machine, cfg.Seed)
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("sessions at once (most)", "%d (logins: %d, over %d users)", r.MaxConcurrent, r.Logins, cfg.Users)
	row("steps", "%s", stepsText(r.Steps))
	row("recordings", "%d: %d complete, %d truncated, %d aborted", len(r.Recordings), r.Complete, r.Truncated, r.Aborted)
	row("journal entries / tlog messages", "%d / %d", r.Entries, r.Messages)
	row("workload", "`cat` bursts %d%% of steps; %.1f KiB/s of output per session on average", cfg.CatPercent, float64(r.ShownBytes)/1024/float64(max(1, cfg.Sessions))/load.Seconds())
	row("output shown by the terminals", "%.1f MiB", mib(r.ShownBytes))
	row("output recorded and replayed", "%.1f MiB", mib(r.RecordedBytes))
	row("lost, said by `lost` notes (buffer overrun)", "%d bytes", r.LostNotedBytes)
	row("shown after a killed recorder's last recorded byte", "%d bytes (%d sessions)", r.KilledTailBytes, r.KilledSessions)
	row("bytes lost without a trace", "%d", r.silentLoss())
	row("throughput recorded", "%.2f MiB/s over %v of load", mib(r.RecordedBytes)/load.Seconds(), load.Round(time.Second))
	m := r.Metrics
	cpuPerMB := 0.0
	if r.RecordedBytes > 0 {
		cpuPerMB = m.RecdCPUSeconds / mib(r.RecordedBytes)
	}
	row("recd CPU (recd + journal writer)", "%.1f s, %.3f s per MiB recorded (%d recd instance(s))", m.RecdCPUSeconds, cpuPerMB, m.RecdInstances)
	row("journald CPU", "%.1f s", m.JournaldCPUSeconds)
	row("recd peak RSS (VmHWM)", "%.1f MiB (journal writer child: %.1f MiB)", float64(m.RecdPeakRSSKB)/1024, float64(m.WriterPeakRSSKB)/1024)
	row("recorder RSS (VmHWM, per recd-session)", "median %.1f MiB, max %.1f MiB (%d recorders, %d at once)", float64(m.RecorderRSSMedKB)/1024, float64(m.RecorderRSSMaxKB)/1024, m.Recorders, m.RecordersAtOnce)
	if r.JournalBefore >= 0 && r.JournalAfter >= 0 {
		row("journal growth", "%.1f MiB (%.2f bytes per recorded byte)", mib(r.JournalAfter-r.JournalBefore), float64(r.JournalAfter-r.JournalBefore)/float64(max(1, r.RecordedBytes)))
	}
	for _, rr := range r.Resumes {
		row(fmt.Sprintf("resumed after the kill -9 of recd at %v", rr.At.Round(time.Second)), "%d recordings; half within %v, all within %v",
			rr.Resumed, rr.Median.Round(100*time.Millisecond), rr.Last.Round(100*time.Millisecond))
	}
	if len(r.Chaos) > 0 {
		fmt.Fprintf(&b, "\nFaults:\n\n| at | fault | what happened |\n|---|---|---|\n")
		for _, e := range r.Chaos {
			fmt.Fprintf(&b, "| %v | %s | %s |\n", e.At.Round(time.Second), e.Kind, e.Detail)
		}
	}
	if lost := r.lostRecordings(); len(lost) > 0 {
		fmt.Fprintf(&b, "\nRecordings with `lost` notes:\n\n")
		for _, c := range lost {
			var at []string
			for _, t := range c.LostAt {
				at = append(at, t.Sub(r.Start).Round(time.Second).String())
			}
			fmt.Fprintf(&b, "- %s (%s): %d bytes lost, status %s; noted at %s\n", c.ID, c.Tag, c.LostNoted, c.Status, strings.Join(at, ", "))
		}
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, "\nProblems:\n\n")
		for i, f := range r.Failures {
			if i == 40 {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.Failures)-40)
				break
			}
			fmt.Fprintf(&b, "- %s\n", f)
		}
		if r.TranscriptDir != "" {
			fmt.Fprintf(&b, "\nTranscripts kept in %s\n", r.TranscriptDir)
		}
	}
	return b.String()
}

// silentLoss is output the terminals showed that is neither recorded nor said lost nor the
// tail of a killed recorder: it must be 0.
func (r *Report) silentLoss() int64 {
	return r.ShownBytes - r.RecordedBytes - r.LostNotedBytes - r.KilledTailBytes
}

func (r *Report) lostRecordings() []RecordingCheck {
	var out []RecordingCheck
	for _, c := range r.Recordings {
		if c.LostNoted > 0 {
			out = append(out, c)
		}
	}
	return out
}

func stepsText(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
