package sysconf

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Paths and names recctl enable works with.
const (
	NSSwitchPath   = "/etc/nsswitch.conf"
	NSSLibrary     = "libnss_recd.so.2"
	DebianProfile  = "/usr/share/pam-configs/recd"
	PamAuthUpdate  = "/usr/sbin/pam-auth-update"
	AuthconfigBin  = "/usr/sbin/authconfig"
	AuthselectBin  = "/usr/bin/authselect"
	AuthselectDir  = "/etc/authselect"
	AuthselectConf = AuthselectDir + "/authselect.conf"
	// CustomProfile is the authselect profile recctl enable creates on EL8 and later.
	CustomProfile = "custom/recd"
	// FeatureCustomPasswd is the authselect feature that takes the passwd map out of the
	// profile (into /etc/authselect/user-nsswitch.conf).
	FeatureCustomPasswd = "with-custom-passwd"
)

// LoginServices are the PAM services that logins go through: doctor checks their session
// stacks, and enable checks them after wiring.
var LoginServices = []string{"sshd", "login", "su", "su-l", "sudo-i"}

// PAMModuleDirs and NSSLibDirs are where the modules are installed on the families recd
// supports (EL: lib64; Debian and Ubuntu: the multiarch directories).
var (
	PAMModuleDirs = []string{"/usr/lib64/security", "/lib64/security", "/usr/lib/*/security", "/lib/*/security",
		"/usr/lib/security", "/lib/security"}
	NSSLibDirs = []string{"/usr/lib64", "/lib64", "/usr/lib/*", "/lib/*", "/usr/lib", "/lib"}
	// UnitDirs are where systemd looks for recd.service.
	UnitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}
)

// debianCommon are the files pam-auth-update writes.
var debianCommon = []string{"/etc/pam.d/common-auth", "/etc/pam.d/common-account", "/etc/pam.d/common-password",
	"/etc/pam.d/common-session", "/etc/pam.d/common-session-noninteractive"}

// authselectFiles are the files `authselect select` writes.
var authselectFiles = []string{
	AuthselectConf,
	AuthselectDir + "/system-auth", AuthselectDir + "/password-auth", AuthselectDir + "/fingerprint-auth",
	AuthselectDir + "/smartcard-auth", AuthselectDir + "/postlogin", AuthselectDir + "/nsswitch.conf",
	AuthselectDir + "/dconf-db", AuthselectDir + "/dconf-locks",
	"/etc/pam.d/system-auth", "/etc/pam.d/password-auth", "/etc/pam.d/fingerprint-auth",
	"/etc/pam.d/smartcard-auth", "/etc/pam.d/postlogin", NSSwitchPath,
}

// RefusalError says why recctl will not change the host; nothing was changed.
type RefusalError struct{ Reason string }

func (e *RefusalError) Error() string { return e.Reason }

func refuse(format string, args ...any) error {
	return &RefusalError{Reason: fmt.Sprintf(format, args...)}
}

// IsRefusal reports whether err is a refusal.
func IsRefusal(err error) bool {
	var r *RefusalError
	return errors.As(err, &r)
}

// FindFile returns the first regular file named name in dirs (which may hold wildcards).
func (f FS) FindFile(dirs []string, name string) string {
	for _, d := range dirs {
		for _, m := range f.Glob(path.Join(d, name)) {
			if fi, err := f.Stat(m); err == nil && fi.Mode().IsRegular() {
				return m
			}
		}
	}
	return ""
}

type planner struct {
	o Options
	f FS
	p *Plan
}

func (pl *planner) add(s Step) { pl.p.Steps = append(pl.p.Steps, s) }

func (pl *planner) note(format string, args ...any) {
	pl.p.Notes = append(pl.p.Notes, fmt.Sprintf(format, args...))
}

// PlanEnable works out what `recctl enable` must change on a host of distribution d. It
// returns a *RefusalError when that cannot be done safely; the plan is empty when recd is
// already wired in.
func PlanEnable(o Options, d Distro) (*Plan, error) {
	o.defaults()
	pl := &planner{o: o, f: o.FS, p: &Plan{Action: "enable", Distro: d}}
	switch d.Family {
	case Debian, EL7, EL:
	default:
		return nil, refuse("recctl enable does not know how %s wires PAM and NSS, and will not guess. "+
			"Wire recd in by hand: put recd first on the passwd line of /etc/nsswitch.conf and add "+
			"`session optional pam_recd.so` to the session stack of every login service (see libnss_recd(8) and pam_recd(8))", d)
	}
	if err := pl.modules(); err != nil {
		return nil, err
	}
	pl.units()
	var err error
	switch d.Family {
	case Debian:
		err = pl.debian()
	case EL7:
		err = pl.el7()
	case EL:
		err = pl.el()
	}
	if err != nil {
		return nil, err
	}
	return pl.p, nil
}

// modules refuses when the C modules are not installed: wiring in a module that is not
// there would only fill the logs.
func (pl *planner) modules() error {
	var missing []string
	if pl.f.FindFile(PAMModuleDirs, PAMModule) == "" {
		missing = append(missing, PAMModule+" (in "+strings.Join(PAMModuleDirs, ", ")+")")
	}
	if pl.f.FindFile(NSSLibDirs, NSSLibrary) == "" {
		missing = append(missing, NSSLibrary+" (in "+strings.Join(NSSLibDirs, ", ")+")")
	}
	if len(missing) > 0 {
		return refuse("recd is not installed: no %s. Install recd first (the recd package, or `make install` "+
			"in the source tree), then run recctl enable again", strings.Join(missing, " and no "))
	}
	return nil
}

// units starts and enables recd through systemd when systemd runs and the units are there.
func (pl *planner) units() {
	f := pl.f
	unit := ""
	for _, d := range UnitDirs {
		if f.Exists(path.Join(d, "recd.service")) {
			unit = path.Join(d, "recd.service")
			break
		}
	}
	switch {
	case !f.IsDir("/run/systemd/system"):
		if !pl.o.DaemonRunning {
			pl.note("systemd is not running here (no /run/systemd/system), so recctl cannot start recd: start " +
				"/usr/sbin/recd yourself (it stays in the foreground) and have the init system start it at boot. " +
				"Until recd runs, the logins of recorded users are not recorded (on_unavailable = allow) or refused (deny)")
		}
		return
	case unit == "":
		if !pl.o.DaemonRunning {
			pl.note("recd.service is not installed (looked in %s): install recd with its units (the package, "+
				"or make install), then run: systemctl enable --now recd.socket recd.service", strings.Join(UnitDirs, ", "))
		}
		return
	}
	units := []string{"recd.socket", "recd.service"}
	out, _, err := pl.o.Run(nil, "systemctl", append([]string{"is-enabled"}, units...)...)
	if err != nil {
		pl.note("cannot ask systemctl whether recd is enabled (%v): run systemctl enable --now recd.socket recd.service yourself", err)
		return
	}
	enabled := allLines(out, "enabled", len(units))
	act, _, _ := pl.o.Run(nil, "systemctl", append([]string{"is-active"}, units...)...)
	if enabled && allLines(act, "active", len(units)) {
		return
	}
	s := Step{Cmd: append([]string{"systemctl", "enable", "--now"}, units...),
		Why: "start recd now and at every boot, before logins"}
	if pl.p.Distro.Family == EL7 {
		// systemctl enable --now came with systemd 220; early CentOS 7 releases lack the
		// backport, so enable and start are two commands there.
		s.Cmd, s.Why = append([]string{"systemctl", "enable"}, units...), "start recd at every boot, before logins"
	}
	if !enabled {
		s.Undo = &UndoCmd{Argv: append([]string{"systemctl", "disable"}, units...),
			Why: "recd no longer starts at boot (recctl enable had enabled it)"}
	}
	pl.add(s)
	if pl.p.Distro.Family == EL7 {
		pl.add(Step{Cmd: append([]string{"systemctl", "start"}, units...), Why: "start recd now"})
	}
}

func allLines(out, want string, n int) bool {
	lines := strings.Fields(out)
	if len(lines) != n {
		return false
	}
	for _, l := range lines {
		if l != want {
			return false
		}
	}
	return true
}

// fileStep makes p hold data, keeping the mode and owner of st (its current state).
func (pl *planner) fileStep(p string, st FileState, data []byte, strip StripKind, why string) {
	n := st
	if n.Kind != File {
		n = FileState{Kind: File, Mode: 0o644}
	}
	n.Data, n.SHA256 = data, Digest(data)
	pl.add(Step{Path: p, New: &n, Strip: strip, Why: why})
}

// nsswitch puts recd first on the passwd line of /etc/nsswitch.conf, edited in place.
func (pl *planner) nsswitch() error {
	f := pl.f
	st, err := f.State(NSSwitchPath)
	if err != nil {
		return err
	}
	switch st.Kind {
	case Absent:
		return refuse("%s does not exist; create it with a passwd line (e.g. \"passwd: files\") and run recctl enable again", NSSwitchPath)
	case Symlink:
		return refuse("%s is a symbolic link to %s: whatever writes that file owns the passwd line, and an edit "+
			"through the link would be undone. Put recd first on the passwd line there (passwd: recd files ...) "+
			"and run recctl enable again", NSSwitchPath, st.Target)
	case File:
	default:
		return refuse("%s is not a regular file", NSSwitchPath)
	}
	if m := ManagedBy(st.Data); m != "" {
		return refuse("%s says %q: a tool rewrites this file and would drop recd from the passwd line. "+
			"Put recd first on the passwd line in that tool's template (passwd: recd files ...), apply it, "+
			"and run recctl enable again", NSSwitchPath, m)
	}
	out, changed, err := NSSEnable(st.Data, NSSwitchPath)
	if err != nil {
		return refuse("%v", err)
	}
	if changed {
		pl.fileStep(NSSwitchPath, st, out, StripNSS, "recd first on the passwd line; every other byte unchanged")
	}
	return nil
}

// editPAM adds pam_recd to the session stack of the PAM file p (a regular file recctl may
// edit in place).
func (pl *planner) editPAM(p string, st FileState) error {
	out, changed, err := PAMAddSession(p, st.Data, false)
	if err != nil {
		return refuse("recctl does not edit a PAM file it cannot parse:\n%v\nFix the file, or add "+
			"`session optional pam_recd.so` to it yourself, and run recctl enable again", err)
	}
	if changed {
		pl.fileStep(p, st, out, StripPAM, "pam_recd after the last session rule")
	}
	return nil
}

// --- Debian and Ubuntu ---

func (pl *planner) debian() error {
	f := pl.f
	if !f.Exists(PamAuthUpdate) {
		return refuse("%s is missing: Debian and Ubuntu manage /etc/pam.d/common-* with it (package libpam-runtime); "+
			"install it and run recctl enable again", PamAuthUpdate)
	}
	if !f.Exists(DebianProfile) {
		return refuse("the pam-auth-update profile %s is missing; it is installed with recd (the package, or make "+
			"install). Install recd and run recctl enable again", DebianProfile)
	}
	data, err := f.ReadFile("/etc/pam.d/common-session")
	if err != nil {
		return refuse("cannot read /etc/pam.d/common-session: %v", err)
	}
	rules, _ := ParsePAM("/etc/pam.d/common-session", data, false)
	if !HasSessionModule(rules, PAMModule) {
		env := []string{"DEBIAN_FRONTEND=noninteractive"}
		pl.add(Step{
			Cmd: []string{"pam-auth-update", "--enable", "recd"}, Env: env, Watch: debianCommon,
			Why: "adds `session optional pam_recd.so` to the Additional block of /etc/pam.d/common-session " +
				"and common-session-noninteractive (profile " + DebianProfile + ")",
			Verify: verifyDebian,
			Undo: &UndoCmd{Argv: []string{"pam-auth-update", "--remove", "recd"}, Env: env, Watch: debianCommon,
				Why: "takes pam_recd.so out of /etc/pam.d/common-*"},
		})
	}
	return pl.nsswitch()
}

func verifyDebian(f FS) error {
	data, err := f.ReadFile("/etc/pam.d/common-session")
	if err != nil {
		return err
	}
	rules, _ := ParsePAM("/etc/pam.d/common-session", data, false)
	if HasSessionModule(rules, PAMModule) {
		return nil
	}
	return errors.New("pam-auth-update did not add pam_recd.so to /etc/pam.d/common-session. It leaves the " +
		"common-* files alone when they were edited by hand (see pam-auth-update(8)). Look at them, then either " +
		"move your own lines out of the block pam-auth-update manages, or let it take the files over with " +
		"`pam-auth-update --force --enable recd` (it keeps your version as common-*.pam-old); then run recctl enable again")
}

// --- CentOS/RHEL 7 ---

func (pl *planner) el7() error {
	authconfig := pl.f.Exists(AuthconfigBin)
	for _, name := range []string{"system-auth", "password-auth"} {
		if err := pl.el7Stack(name, authconfig); err != nil {
			return err
		}
	}
	if err := pl.nsswitch(); err != nil {
		return err
	}
	if authconfig {
		pl.note("authconfig rewrites the passwd line of %s whenever it writes its NSS settings (authconfig --update "+
			"or --updateall with a change of its options), and recd's entry is then lost: run recctl enable again "+
			"afterwards (recctl doctor reports it). The PAM change survives authconfig: it is in the -local files.", NSSwitchPath)
	}
	return nil
}

// el7Stack wires pam_recd into system-auth or password-auth the way authconfig tolerates:
// authconfig rewrites the -ac file every time and replaces a regular file with a link to it,
// but leaves a link that points elsewhere alone.
func (pl *planner) el7Stack(name string, authconfig bool) error {
	f := pl.f
	p := path.Join(PAMDir, name)
	st, err := f.State(p)
	if err != nil {
		return err
	}
	ac := name + "-ac"
	local := name + "-local"
	switch st.Kind {
	case Absent:
		return refuse("%s does not exist: this is not the PAM layout of CentOS/RHEL 7, where every login service "+
			"includes system-auth or password-auth. Add `session optional pam_recd.so` to the session stacks "+
			"yourself (pam_recd(8))", p)
	case File:
		if authconfig {
			return refuse("%s is a regular file, and authconfig replaces it with a link to %s the next time it writes "+
				"the PAM configuration: recd's line would silently disappear (and so would your own changes). "+
				"Do what Red Hat recommends for local changes (RHEL-07-010199): keep them in a file of your own "+
				"and point the link at it:\n  cp -p %s %s && ln -sfn %s %s\nthen run recctl enable again; "+
				"it adds its line to %s, which authconfig never writes", p, ac, p, path.Join(PAMDir, local), local, p, local)
		}
		return pl.editPAM(p, st)
	case Symlink:
	default:
		return refuse("%s is neither a file nor a symbolic link", p)
	}
	target := st.Target
	if !strings.HasPrefix(target, "/") {
		target = path.Join(PAMDir, target)
	}
	target = path.Clean(target)
	if path.Dir(target) != PAMDir {
		return refuse("%s points to %s, outside %s: recctl does not edit files it does not know. Add "+
			"`session optional pam_recd.so` to it yourself", p, st.Target, PAMDir)
	}
	tst, err := f.State(target)
	if err != nil {
		return err
	}
	switch tst.Kind {
	case Absent:
		return refuse("%s points to %s, which does not exist (authconfig would replace the link with one to %s): "+
			"repair the link and run recctl enable again", p, st.Target, ac)
	case File:
	default:
		return refuse("%s points to %s, which is not a regular file (a chain of links?): point %s straight at a file "+
			"and run recctl enable again", p, st.Target, p)
	}
	if path.Base(target) != ac {
		// The administrator's own file (typically NAME-local, as RHEL-07-010199 asks):
		// authconfig never writes it, so recd's line goes there.
		return pl.editPAM(target, tst)
	}
	lp := path.Join(PAMDir, local)
	lst, err := f.State(lp)
	if err != nil {
		return err
	}
	if lst.Kind != Absent {
		return refuse("%s exists, but %s points to %s, not to it: recctl does not know what that file is for. If it is "+
			"your local configuration, point the link at it (ln -sfn %s %s) and run recctl enable again: recctl "+
			"then adds its line to it. Otherwise move it out of the way and run recctl enable again", lp, p, ac, local, p)
	}
	acData := tst.Data
	if _, err := ParsePAM(target, acData, false); err != nil {
		return refuse("recctl does not wire PAM on top of a file it cannot parse:\n%v", err)
	}
	content := fmt.Sprintf(`#%%PAM-1.0
# Written by "recctl enable": %[1]s as authconfig writes it, plus recd's session
# module. authconfig rewrites %[1]s but leaves this file, and the %[2]s link
# that points to it, alone. "recctl disable" points the link back to %[1]s.
%-12[3]s%-13[4]s%[1]s
%-12[5]s%-13[4]s%[1]s
%-12[6]s%-13[4]s%[1]s
%-12[7]s%-13[4]s%[1]s
%-12[7]s%-13[8]s%[9]s
`, ac, name, "auth", "include", "account", "password", "session", "optional", PAMModule)
	n := NewFile([]byte(content), 0o644)
	pl.add(Step{Path: lp, New: &n, Strip: StripPAM,
		Why: "includes the authconfig-managed " + ac + " and adds pam_recd; authconfig never writes it"})
	link := FileState{Kind: Symlink, Target: local}
	pl.add(Step{Path: p, New: &link, Pair: lp,
		Why: "authconfig keeps a link that points elsewhere than " + ac})
	return nil
}

// --- EL8 and later: authselect ---

// ReadAuthselect returns the selected authselect profile and its features, or "" when no
// profile is selected.
func ReadAuthselect(f FS) (profile string, features []string, err error) {
	data, err := f.ReadFile(AuthselectConf)
	if err != nil {
		return "", nil, err
	}
	for _, l := range splitLines(data) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if profile == "" {
			profile = l
		} else {
			features = append(features, l)
		}
	}
	return profile, features, nil
}

// profileDir returns the directory of an authselect profile ID.
func profileDir(f FS, id string) string {
	if name, ok := strings.CutPrefix(id, "custom/"); ok {
		return path.Join(AuthselectDir, "custom", name)
	}
	for _, d := range []string{"/usr/share/authselect/vendor", "/usr/share/authselect/default"} {
		if f.IsDir(path.Join(d, id)) {
			return path.Join(d, id)
		}
	}
	return ""
}

func (pl *planner) el() error {
	f := pl.f
	if !f.Exists(AuthselectConf) {
		return pl.plainEL()
	}
	profile, features, err := ReadAuthselect(f)
	if err != nil {
		return refuse("cannot read %s: %v", AuthselectConf, err)
	}
	if profile == "" {
		return refuse("%s names no profile: repair it with authselect select PROFILE and run recctl enable again", AuthselectConf)
	}
	if !f.Exists(AuthselectBin) {
		return refuse("%s selects the profile %s, but %s is missing: reinstall authselect and run recctl enable again",
			AuthselectConf, profile, AuthselectBin)
	}
	for _, ft := range features {
		if ft == FeatureCustomPasswd {
			return refuse("the authselect feature %s is on: the passwd map comes from %s/user-nsswitch.conf, not from "+
				"the profile. Put recd first on its passwd line (passwd: recd files ...), run authselect apply-changes, "+
				"then run recctl enable again", FeatureCustomPasswd, AuthselectDir)
		}
	}
	custom := path.Join(AuthselectDir, "custom", "recd")
	if profile == CustomProfile {
		return pl.elRepair(custom)
	}
	if pl.liveWired() {
		pl.note("the selected authselect profile %s already runs pam_recd and puts recd first on the passwd "+
			"line: recctl leaves it as it is", profile)
		return nil
	}
	base := profileDir(f, profile)
	if base == "" {
		return refuse("cannot find the files of the selected authselect profile %s: reinstall authselect and run "+
			"recctl enable again", profile)
	}
	if f.Exists(custom) {
		return refuse("%s already exists but the profile %s is selected: recctl will not overwrite it. Remove it "+
			"(rm -r %s) or select it (authselect select %s ...), and run recctl enable again", custom, profile, custom, CustomProfile)
	}
	out, code, err := pl.o.Run(nil, "authselect", "check")
	if err != nil {
		return refuse("cannot run authselect check: %v", err)
	}
	if code != 0 {
		return refuse("authselect check says the current configuration was changed outside authselect:\n%s\n"+
			"Selecting a profile would overwrite those changes, and recctl never uses --force for that. Put the "+
			"changes into an authselect profile (or undo them) so that authselect check passes, then run recctl "+
			"enable again", strings.TrimSpace(out))
	}
	for _, d := range []string{path.Join(AuthselectDir, "custom"), custom} {
		if !f.Exists(d) {
			pl.add(Step{Path: d, New: &FileState{Kind: Dir, Mode: 0o755}, Why: "the custom profile's directory"})
		}
	}
	entries, err := f.ReadDir(base)
	if err != nil {
		return refuse("cannot read the profile %s (%s): %v", profile, base, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var sawNSS, sawSystem bool
	for _, name := range names {
		src := path.Join(base, name)
		data, err := f.ReadFile(src)
		if err != nil {
			return refuse("cannot read %s: %v", src, err)
		}
		dst := path.Join(custom, name)
		why := "copied from " + profile
		strip := StripNone
		switch name {
		case "system-auth", "password-auth":
			sawSystem = sawSystem || name == "system-auth"
			out, _, err := PAMAddSession(src, data, true)
			if err != nil {
				return refuse("recctl does not derive a profile from a file it cannot parse:\n%v", err)
			}
			data, why, strip = out, "pam_recd after the last session rule of "+profile, StripPAMTemplate
		case "nsswitch.conf":
			sawNSS = true
			out, _, err := NSSEnable(data, src)
			if err != nil {
				return refuse("%v", err)
			}
			data, why, strip = out, "recd first on the passwd line of "+profile, StripNSS
		case "README":
			first, rest, _ := strings.Cut(string(data), "\n")
			data = []byte("Session recording by recd (pam_recd, libnss_recd) on top of " + profile + ": " + first + "\n" +
				"Created by recctl enable; recctl disable selects " + profile + " again and removes this profile.\n" + rest)
			why = "authselect list shows the first line"
		}
		n := NewFile(data, 0o644)
		pl.add(Step{Path: dst, New: &n, DiffFrom: src, Strip: strip, Why: why})
	}
	if !sawNSS || !sawSystem {
		return refuse("the profile %s has no system-auth or nsswitch.conf (%s): recctl cannot derive %s from it",
			profile, base, CustomProfile)
	}
	argv := append([]string{"authselect", "select", CustomProfile}, features...)
	undo := append([]string{"authselect", "select", profile}, "{features}")
	pl.add(Step{Cmd: argv, Watch: authselectFiles, Verify: verifyAuthselect,
		Why: "select the derived profile, with the features now on (" + strings.Join(orNone(features), " ") + ")",
		Undo: &UndoCmd{Argv: undo, Watch: authselectFiles, AuthselectFrom: CustomProfile,
			Why: "select " + profile + " again, with the features then on"}})
	return nil
}

// liveWired reports whether the PAM stacks system-auth and password-auth and nsswitch.conf,
// as they are in force, already have recd's lines.
func (pl *planner) liveWired() bool {
	for _, name := range []string{"system-auth", "password-auth"} {
		p := path.Join(PAMDir, name)
		data, err := pl.f.ReadFile(p)
		if err != nil {
			return false
		}
		rules, err := ParsePAM(p, data, false)
		if err != nil || !HasSessionModule(rules, PAMModule) {
			return false
		}
	}
	nss, err := pl.f.ReadFile(NSSwitchPath)
	if err != nil {
		return false
	}
	l, err := PasswdLine(nss, NSSwitchPath)
	return err == nil && l.RecdFirst()
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

func verifyAuthselect(f FS) error {
	profile, _, err := ReadAuthselect(f)
	if err != nil {
		return fmt.Errorf("after authselect select: %v", err)
	}
	if profile != CustomProfile {
		return fmt.Errorf("after authselect select, %s names %q, not %s", AuthselectConf, profile, CustomProfile)
	}
	return nil
}

// elRepair handles a host where custom/recd is already selected: it puts recd's lines back
// into the profile if someone took them out, and applies it.
func (pl *planner) elRepair(custom string) error {
	f := pl.f
	changed := false
	for _, name := range []string{"system-auth", "password-auth", "nsswitch.conf"} {
		p := path.Join(custom, name)
		st, err := f.State(p)
		if err != nil {
			return err
		}
		if st.Kind != File {
			return refuse("%s is selected but %s is missing: select another profile (authselect select sssd ...) "+
				"and run recctl enable again", CustomProfile, p)
		}
		var out []byte
		var ch bool
		if name == "nsswitch.conf" {
			out, ch, err = NSSEnable(st.Data, p)
		} else {
			out, ch, err = PAMAddSession(p, st.Data, true)
		}
		if err != nil {
			return refuse("%v", err)
		}
		if ch {
			strip := StripPAMTemplate
			if name == "nsswitch.conf" {
				strip = StripNSS
			}
			pl.fileStep(p, st, out, strip, "recd's line was missing from the selected profile")
			changed = true
		}
	}
	live, _ := f.ReadFile("/etc/pam.d/system-auth")
	rules, _ := ParsePAM("/etc/pam.d/system-auth", live, false)
	nss, _ := f.ReadFile(NSSwitchPath)
	l, _ := PasswdLine(nss, NSSwitchPath)
	if changed || !HasSessionModule(rules, PAMModule) || !l.RecdFirst() {
		pl.add(Step{Cmd: []string{"authselect", "apply-changes"}, Watch: authselectFiles,
			Why: "write the profile " + CustomProfile + " out to /etc/pam.d and /etc/nsswitch.conf again"})
	}
	return nil
}

// plainEL wires an EL host whose files no tool manages (authselect opted out or never
// configured): system-auth, password-auth and nsswitch.conf are edited in place.
func (pl *planner) plainEL() error {
	f := pl.f
	for _, name := range []string{"system-auth", "password-auth"} {
		p := path.Join(PAMDir, name)
		st, err := f.State(p)
		if err != nil {
			return err
		}
		switch st.Kind {
		case File:
			if err := pl.editPAM(p, st); err != nil {
				return err
			}
			continue
		case Absent:
			return refuse("%s does not exist: add `session optional pam_recd.so` to the session stacks yourself (pam_recd(8))", p)
		case Symlink:
		default:
			return refuse("%s is neither a file nor a symbolic link", p)
		}
		target := st.Target
		if !strings.HasPrefix(target, "/") {
			target = path.Join(PAMDir, target)
		}
		target = path.Clean(target)
		if strings.HasPrefix(target, AuthselectDir+"/") {
			return refuse("%s points into %s, but no authselect profile is selected (%s is missing): select one "+
				"(authselect select sssd, or minimal) or opt out (authselect opt-out), then run recctl enable again",
				p, AuthselectDir, AuthselectConf)
		}
		if path.Dir(target) != PAMDir {
			return refuse("%s points to %s, outside %s: recctl does not edit files it does not know", p, st.Target, PAMDir)
		}
		tst, err := f.State(target)
		if err != nil {
			return err
		}
		if tst.Kind != File {
			return refuse("%s points to %s, which is not a regular file", p, st.Target)
		}
		if err := pl.editPAM(target, tst); err != nil {
			return err
		}
	}
	return pl.nsswitch()
}
