package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/recd-dev/recd/internal/confedit"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/sssdimport"
)

func (a *App) cmdPolicy(_ *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		return a.errorf("policy: takes no arguments")
	}
	c, err := a.load()
	if err != nil {
		return a.errorf("policy: %v", err)
	}
	fmt.Fprintln(a.Stdout, "Files read:")
	for _, f := range c.Files {
		if f.Missing {
			fmt.Fprintf(a.Stdout, "  %s (missing: defaults apply)\n", f.Path)
		} else {
			fmt.Fprintf(a.Stdout, "  %s\n", f.Path)
		}
	}
	fmt.Fprintln(a.Stdout, "\n[session_recording]")
	p := &c.Policy
	for _, k := range config.PolicyKeys {
		val := p.Scope.String()
		if k != config.KeyScope {
			val = strings.Join(p.List(k), ", ")
		}
		note := ""
		if !p.Used(k) && len(p.List(k)) > 0 {
			why := "only used with scope=some"
			if k == config.KeyExcludeUsers || k == config.KeyExcludeGroups {
				why = "only used with scope=all"
			}
			note = " (ignored: " + why + ")"
		}
		fmt.Fprintf(a.Stdout, "%-30s  # %s\n", strings.TrimSpace(k+" = "+val)+note, p.Source(k))
	}
	return ExitOK
}

func (a *App) cmdCheck(_ *flag.FlagSet, args []string) int {
	if len(args) == 0 {
		return a.errorf("check: name at least one user (recctl check USER...)")
	}
	c, err := a.load()
	if err != nil {
		return a.errorf("check: %v", err)
	}
	status := ExitOK
	failed := false
	for _, name := range args {
		d, err := policy.Decide(&c.Policy, a.Directory, name)
		if errors.Is(err, policy.ErrNoSuchUser) {
			fmt.Fprintf(a.Stderr, "recctl: check: no such user %q\n", name)
			failed = true
			continue
		} else if err != nil {
			fmt.Fprintf(a.Stderr, "recctl: check: %v\n", err)
			failed = true
			continue
		}
		verdict := "recorded"
		if !d.Record {
			verdict = "not recorded"
			status = ExitNegative
		}
		fmt.Fprintf(a.Stdout, "%s: %s — %s\n", name, verdict, d.Reason)
	}
	if failed {
		return ExitUsage
	}
	return status
}

func (a *App) editor() *confedit.Editor {
	return &confedit.Editor{Path: a.ConfigPath, DropinDir: a.DropinDir}
}

// report prints what an edit changed and, when it wrote the file, activates the result so
// that the next login sees it (through recd when it runs).
func (a *App) report(res *confedit.Result) int {
	for _, ch := range res.Changes {
		switch {
		case !ch.Changed():
			fmt.Fprintf(a.Stdout, "%s unchanged: %s\n", ch.Key, show(ch.New))
		case !ch.WasSet:
			fmt.Fprintf(a.Stdout, "%s: (not set) → %s\n", ch.Key, show(ch.New))
		default:
			fmt.Fprintf(a.Stdout, "%s: %s → %s\n", ch.Key, show(ch.Old), show(ch.New))
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.Stderr, "recctl: warning: %s\n", w)
	}
	if !res.Written {
		return ExitOK
	}
	fmt.Fprintf(a.Stdout, "Wrote %s.\n", a.ConfigPath)
	if a.busResult != nil {
		return a.reportBus() // recd wrote and activated it (D-Bus)
	}
	if a.Reload == nil {
		fmt.Fprintln(a.Stdout, "Run `recctl reload` to activate the change.")
		return ExitOK
	}
	return a.Reload()
}

func show(v string) string {
	if v == "" {
		return "(empty)"
	}
	return v
}

func (a *App) cmdScope(_ *flag.FlagSet, args []string) int {
	if len(args) != 1 {
		return a.errorf("scope: expected exactly one of none, some, all")
	}
	s, err := config.ParseScope(args[0])
	if err != nil {
		return a.errorf("scope: %v", err)
	}
	res, err := a.apply(confedit.SetScope(s))
	if err != nil {
		return a.errorf("scope: %v", err)
	}
	return a.report(res)
}

func (a *App) cmdList(key string, _ *flag.FlagSet, args []string) int {
	cmd := strings.ReplaceAll(key, "_", "-")
	if len(args) == 0 {
		return a.errorf("%s: expected add, remove or set", cmd)
	}
	var op confedit.Op
	switch args[0] {
	case "add":
		op = confedit.Add
	case "remove":
		op = confedit.Remove
	case "set":
		op = confedit.Set
	default:
		return a.errorf("%s: unknown action %q (expected add, remove or set)", cmd, args[0])
	}
	names := args[1:]
	if len(names) == 0 && op != confedit.Set {
		return a.errorf("%s %s: name at least one %s", cmd, args[0], strings.TrimSuffix(strings.TrimPrefix(key, "exclude_"), "s"))
	}
	for _, n := range names {
		if err := config.CheckName(n); err != nil {
			return a.errorf("%s: %v", cmd, err)
		}
	}
	if op != confedit.Remove {
		a.warnUnknown(key, names)
	}
	res, err := a.apply(confedit.ListEdit(key, op, names...))
	if err != nil {
		return a.errorf("%s: %v", cmd, err)
	}
	return a.report(res)
}

// warnUnknown warns about names that are not in the user or group database.
func (a *App) warnUnknown(key string, names []string) {
	groups := strings.Contains(key, "group")
	for _, n := range names {
		var err error
		what := "user"
		if groups {
			what = "group"
			_, err = a.Directory.LookupGroup(n)
		} else {
			_, err = a.Directory.LookupUser(n)
		}
		if errors.Is(err, policy.ErrNotFound) {
			fmt.Fprintf(a.Stderr, "recctl: warning: no %s %q exists (accepted anyway)\n", what, n)
		} else if err != nil {
			fmt.Fprintf(a.Stderr, "recctl: warning: cannot look up %s %q: %v\n", what, n, err)
		}
	}
}

func (a *App) cmdImportSSSD(fs *flag.FlagSet, args []string) int {
	dry := fs.Lookup("dry-run").Value.(flag.Getter).Get().(bool)
	files := args
	if len(files) == 0 {
		var err error
		if files, err = sssdimport.DefaultFiles(a.SSSDPath, a.SSSDDropinDir); err != nil {
			return a.errorf("import-sssd: %v", err)
		}
	}
	sp, err := sssdimport.Read(files)
	if err != nil {
		return a.errorf("import-sssd: %v", err)
	}
	for _, w := range sp.Warnings {
		fmt.Fprintf(a.Stderr, "recctl: warning: %s\n", w)
	}
	edits := []confedit.Edit{confedit.SetScope(sp.Scope)}
	for _, k := range config.PolicyKeys[1:] {
		edits = append(edits, confedit.ListEdit(k, confedit.Set, sp.Lists[k]...))
	}
	fmt.Fprintf(a.Stdout, "From %s:\n", strings.Join(files, ", "))
	for _, k := range config.PolicyKeys {
		val := sp.Scope.String()
		if k != config.KeyScope {
			val = strings.Join(sp.Lists[k], ", ")
		}
		from := "(not set in SSSD: default)"
		if src, ok := sp.Sources[k]; ok {
			from = "(from " + src.String() + ")"
		}
		fmt.Fprintf(a.Stdout, "  %-28s %s\n", strings.TrimSpace(k+" = "+val), from)
	}
	ed := a.editor()
	var res *confedit.Result
	if dry {
		res, err = ed.Plan(edits...)
	} else {
		res, err = a.apply(edits...)
	}
	if err != nil {
		return a.errorf("import-sssd: %v", err)
	}
	if dry {
		fmt.Fprintf(a.Stdout, "\nDry run: %s would become:\n%s", a.ConfigPath, res.Text)
		for _, w := range res.Warnings {
			fmt.Fprintf(a.Stderr, "recctl: warning: %s\n", w)
		}
		return ExitOK
	}
	fmt.Fprintln(a.Stdout)
	return a.report(res)
}
