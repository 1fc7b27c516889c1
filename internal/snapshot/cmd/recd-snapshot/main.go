// Command recd-snapshot compiles a policy snapshot from flags, for the C module
// tests and benchmarks (make test-c, make bench). The daemon compiles from
// recd.conf instead; this tool exists so the tests use the real Go writer.
//
//	recd-snapshot -out /tmp/x/policy -scope some -users alice -groups rec \
//	    -passwd /tmp/x/passwd -group /tmp/x/group -recorder /usr/bin/recd-session
//	recd-snapshot -decode /var/lib/recd/policy
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/recd-dev/recd/internal/snapshot"
)

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	var (
		out      = flag.String("out", snapshot.Path, "snapshot to write")
		passwd   = flag.String("passwd", "/etc/passwd", "passwd file")
		group    = flag.String("group", "/etc/group", "group file")
		scope    = flag.String("scope", "none", "none, some or all")
		users    = flag.String("users", "", "comma-separated users (scope=some)")
		groups   = flag.String("groups", "", "comma-separated groups (scope=some)")
		exusers  = flag.String("exclude-users", "", "comma-separated users (scope=all)")
		exgroups = flag.String("exclude-groups", "", "comma-separated groups (scope=all)")
		recorder = flag.String("recorder", "/usr/bin/recd-session", "recorder path")
		tlogconf = flag.String("tlog-conf", "", "tlog JSON configuration text")
		nocache  = flag.Bool("no-cache", false, "leave the compiled cache out")
		decode   = flag.String("decode", "", "decode this snapshot and print it")
		check    = flag.Bool("check", false, "print \"FILE ok\" or \"FILE invalid\" for each file argument")
		drop     = flag.String("drop", "", "comma-separated users to leave out of the cache (as if from another source)")
	)
	flag.Parse()
	if *check {
		for _, f := range flag.Args() {
			res := "ok"
			if _, err := snapshot.Read(f); err != nil {
				res = "invalid"
			}
			fmt.Println(f, res)
		}
		return
	}
	if *decode != "" {
		s, err := snapshot.Read(*decode)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%+v\n", s.Rules)
		for _, e := range s.Entries {
			fmt.Printf("%+v\n", e)
		}
		return
	}
	r := snapshot.Rules{Scope: *scope, Users: list(*users), Groups: list(*groups),
		ExcludeUsers: list(*exusers), ExcludeGroups: list(*exgroups),
		Recorder: *recorder, TlogConfText: *tlogconf}
	s, err := snapshot.Compile(r, snapshot.Options{PasswdPath: *passwd, GroupPath: *group})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if d := list(*drop); len(d) > 0 {
		var kept []snapshot.Entry
	next:
		for _, e := range s.Entries {
			for _, n := range d {
				if e.Name == n {
					continue next
				}
			}
			kept = append(kept, e)
		}
		s.Entries = kept
	}
	if *nocache {
		s.Entries, s.Passwd, s.Group = nil, nil, nil
	}
	if err := snapshot.Write(*out, s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
