// Command soak is `make soak`: the load test of tests/load with its defaults (100 recorded
// ssh sessions at once for 5 minutes on an isolated test host), optionally with the chaos
// monkey. It prints progress on stderr and the report (Markdown, as RELIABILITY.md quotes
// it) on stdout, and exits 1 when the run found a problem.
//
//	go run ./tests/cmd/soak [-sessions N] [-duration 5m] [-chaos] [-seed S] [-session-min D] [-report FILE]
//
// make soak N=… DURATION=… CHAOS=1 passes the same knobs.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/recd-dev/recd/tests/load"
	"github.com/recd-dev/recd/tests/testhost"
)

func main() {
	cfg := load.Config{}
	flag.IntVar(&cfg.Sessions, "sessions", 100, "recorded ssh sessions at once")
	duration := flag.String("duration", "5m", "how long the load runs (5m, 90s, or seconds)")
	flag.BoolVar(&cfg.Chaos, "chaos", false, "kill and stop recd, restart journald, fill the journal's file system, kill recorders")
	flag.IntVar(&cfg.RecdKills, "recd-kills", 0, "kill -9 recd this many times (without -chaos)")
	flag.Int64Var(&cfg.Seed, "seed", 0, "seed of the workload and the chaos (0: random)")
	flag.DurationVar(&cfg.SessionMin, "session-min", 0, "log out and in again after at least this long (0: one session per driver)")
	flag.StringVar(&cfg.JournalTmpfs, "journal-tmpfs", "3g", "size of the journal's tmpfs under -chaos")
	flag.IntVar(&cfg.CatPercent, "cat-percent", load.DefaultCatPercent, "share of steps that cat a 1-4 MiB file (8 saturates 2 cores with 100 sessions; -1: none)")
	flag.IntVar(&cfg.DgramQlen, "dgram-qlen", 0, "net.unix.max_dgram_qlen of the test host (0: the kernel's 10)")
	flag.StringVar(&cfg.Dir, "dir", "", "keep the transcripts in this directory")
	report := flag.String("report", "", "also write the report to this file")
	flag.Parse()
	d, err := time.ParseDuration(*duration)
	if n, aerr := strconv.Atoi(*duration); aerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "soak: -duration %q: want a duration such as 5m or 300\n", *duration)
		os.Exit(2)
	}
	cfg.Duration = d
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "soak: needs root to create the isolated test host")
		os.Exit(1)
	}
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	st := &testhost.Standalone{Log: os.Stderr}
	var rep *load.Report
	if err := st.Run(func(t testhost.T) { rep = load.Run(t, cfg) }); err != nil {
		fmt.Fprintf(os.Stderr, "soak: FAILED: %v\n", err)
		os.Exit(1)
	}
	text := rep.Text()
	fmt.Print(text)
	if *report != "" {
		if err := os.WriteFile(*report, []byte(text), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		}
	}
	if !rep.OK() {
		os.Exit(1)
	}
}
