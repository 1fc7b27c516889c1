package sysconf

import (
	"path"
	"strings"
)

// PlanDisable works out what `recctl disable` must do: run the undo commands of what enable
// ran, put back every path enable changed that nobody changed since (byte for byte, from
// the backup), and take only recd's lines out of the files that changed since.
func PlanDisable(o Options, d Distro) (*Plan, error) {
	o.defaults()
	st, err := LoadState(o)
	if err != nil {
		return nil, err
	}
	pl := &planner{o: o, f: o.FS, p: &Plan{Action: "disable", Distro: d, state: st}}
	if st == nil {
		if err := pl.disableWithoutState(); err != nil {
			return nil, err
		}
		return pl.p, nil
	}
	f := o.FS
	stopNote := false
	for i := len(st.Undo) - 1; i >= 0; i-- {
		u := st.Undo[i]
		argv := u.Argv
		if u.AuthselectFrom != "" {
			profile, features, err := ReadAuthselect(f)
			if err != nil || profile != u.AuthselectFrom {
				pl.note("the authselect profile is now %q, not %s: recctl leaves it as it is (select the profile you "+
					"want with authselect select)", profile, u.AuthselectFrom)
				continue
			}
			var a []string
			for _, x := range argv {
				if x == "{features}" {
					a = append(a, features...)
				} else {
					a = append(a, x)
				}
			}
			argv = a
		}
		if len(argv) > 0 && argv[0] == "systemctl" {
			stopNote = true
		}
		pl.add(Step{Cmd: argv, Env: u.Env, Watch: u.Watch, Why: u.Why})
	}
	changedSince := func(p string) bool {
		r := st.record(p)
		if r == nil {
			return false
		}
		cur, err := f.State(p)
		return err != nil || !cur.Same(r.After)
	}
	for i := len(st.Files) - 1; i >= 0; i-- {
		r := st.Files[i]
		if r.ByCommand {
			continue
		}
		cur, err := f.State(r.Path)
		if err != nil {
			return nil, err
		}
		switch {
		case cur.Same(r.After):
			if r.Pair != "" && changedSince(r.Pair) {
				pl.note("%s stays a link to %s: that file changed after recctl enable, so it stays in force "+
					"(only recd's line is taken out of it)", r.Path, path.Base(r.Pair))
				continue
			}
			before, err := loadBefore(o, r)
			if err != nil {
				return nil, refuse("%v; the other copies are in %s", err, strings.Join(st.Backups, ", "))
			}
			why := "as it was before recctl enable"
			if before.Kind == Absent {
				why = "recctl enable created it"
			}
			pl.add(Step{Path: r.Path, New: &before, BestEffort: r.After.Kind == Dir, Why: why})
		case cur.Same(r.Before):
		case cur.Kind == File && r.Strip != StripNone:
			out, changed := strip(r.Strip, r.Path, cur.Data)
			if !changed {
				pl.note("%s changed after recctl enable and has no recd line left: left as it is", r.Path)
				continue
			}
			n := cur
			n.Data, n.SHA256 = out, Digest(out)
			pl.add(Step{Path: r.Path, New: &n, Why: "changed after recctl enable: only recd's lines are taken out"})
			pl.note("%s changed after recctl enable, so it is not put back from the backup: only recd's lines "+
				"were taken out, the rest is left as it is now", r.Path)
		default:
			pl.note("%s changed after recctl enable (it is now a %s): left as it is", r.Path, cur)
		}
	}
	if stopNote {
		pl.note("recd keeps running for the sessions still being recorded; stop it once they have ended: " +
			"systemctl stop recd.socket recd.service")
	}
	return pl.p, nil
}

// disableWithoutState takes recd's lines out of a host that recctl enable did not wire (by
// hand, or with a lost state file), where that can be done without guessing.
func (pl *planner) disableWithoutState() error {
	f := pl.f
	pl.note("recctl has no record of an enable on this host (%s is missing): only recd's lines are taken out, "+
		"nothing is put back from a backup", pl.o.statePath())
	switch pl.p.Distro.Family {
	case Debian:
		data, _ := f.ReadFile("/etc/pam.d/common-session")
		rules, _ := ParsePAM("/etc/pam.d/common-session", data, false)
		if HasSessionModule(rules, PAMModule) && f.Exists(DebianProfile) {
			pl.add(Step{Cmd: []string{"pam-auth-update", "--remove", "recd"}, Env: []string{"DEBIAN_FRONTEND=noninteractive"},
				Watch: debianCommon, Why: "takes pam_recd.so out of /etc/pam.d/common-*"})
		}
	case EL:
		if profile, _, err := ReadAuthselect(f); err == nil && profile != "" {
			if profile == CustomProfile {
				return refuse("the authselect profile %s is selected, but recctl has no record of the profile it "+
					"replaced: select the one you want (authselect current shows the features; e.g. authselect "+
					"select sssd with-mkhomedir), then remove %s/custom/recd", CustomProfile, AuthselectDir)
			}
			if pl.liveWired() {
				pl.note("the authselect profile %s, which recctl did not create, wires recd: take pam_recd and "+
					"recd out of it and run authselect apply-changes", profile)
			}
			break
		}
		fallthrough
	case EL7:
		seen := map[string]bool{}
		for _, name := range []string{"system-auth", "password-auth", "system-auth-local", "password-auth-local"} {
			p, err := f.Resolve(path.Join(PAMDir, name))
			if err != nil {
				return err
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			st, err := f.State(p)
			if err != nil || st.Kind != File {
				continue
			}
			if out, changed := PAMStrip(p, st.Data, false); changed {
				pl.fileStep(p, st, out, StripNone, "take pam_recd out")
			}
		}
	}
	st, err := f.State(NSSwitchPath)
	if err == nil && st.Kind == File {
		if out, changed := NSSDisable(st.Data); changed {
			pl.fileStep(NSSwitchPath, st, out, StripNone, "take recd off the passwd line")
		}
	}
	return nil
}
