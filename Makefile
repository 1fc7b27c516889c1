# recd — build, install, test.
#
#   make            build everything into build/
#   make deps       install build and test dependencies (apt-get or yum/dnf), idempotent
#   make test       unit tests, bounded fuzz runs, C module tests, integration tests (root)
#   make demo       record a scripted session on an isolated test host and play it back
#   make bench      benchmarks, figures go to BENCHMARKS.md
#   make soak       long load test (tests/load)
#   make install    DESTDIR= PREFIX=/usr, with the library directories of the distro family

GO        ?= go
CC        ?= cc
PREFIX    ?= /usr
DESTDIR   ?=
SYSCONFDIR ?= /etc
BUILD     := build
GOFLAGS_STATIC := -trimpath -ldflags '-s -w'
FUZZTIME  ?= 15s

# Library directories differ per family: EL uses lib64, Debian/Ubuntu the multiarch triplet.
ifneq ($(wildcard /etc/debian_version),)
  MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch)
  LIBDIR    ?= $(PREFIX)/lib/$(MULTIARCH)
else ifneq ($(wildcard /usr/lib64),)
  LIBDIR    ?= $(PREFIX)/lib64
else
  LIBDIR    ?= $(PREFIX)/lib
endif
PAMDIR    ?= $(LIBDIR)/security
UNITDIR   ?= $(PREFIX)/lib/systemd/system
MANDIR    ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

# C modules: small, libc (+ libpam) only, loadable on glibc 2.17. See nss/ and pam/.
CFLAGS_MODULE := -O2 -g -fPIC -Wall -Wextra -Werror -std=gnu99 -fno-stack-protector \
                 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 -D_GNU_SOURCE -fvisibility=hidden
LDFLAGS_MODULE := -shared -Wl,-z,relro -Wl,-z,now -Wl,--as-needed -Wl,--no-undefined

GO_SOURCES := go.mod go.sum $(shell find internal recd ctl -name '*.go' -not -name '*_test.go' 2>/dev/null)
NSS_SOURCES := $(wildcard nss/*.c nss/*.h)
PAM_SOURCES := $(wildcard pam/*.c pam/*.h) nss/recd_policy.c nss/recd_policy.h

.PHONY: all deps test test-unit test-fuzz test-c test-integration test-demo demo bench soak install clean

all: $(BUILD)/recd $(BUILD)/recd-session $(BUILD)/recctl $(BUILD)/libnss_recd.so.2 $(BUILD)/pam_recd.so \
     $(BUILD)/recd-pam-test

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/recd: $(GO_SOURCES) | $(BUILD)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_STATIC) -o $@ ./recd/recd

$(BUILD)/recd-session: $(GO_SOURCES) | $(BUILD)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_STATIC) -o $@ ./recd/recd-session

$(BUILD)/recctl: $(GO_SOURCES) | $(BUILD)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_STATIC) -o $@ ./ctl/recctl

# recctl test-login's helper: the one Go program built with cgo, because running a PAM
# session needs the system's libpam (ctl/recd-pam-test says more). Build it on the target.
$(BUILD)/recd-pam-test: $(GO_SOURCES) | $(BUILD)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_STATIC) -o $@ ./ctl/recd-pam-test

$(BUILD)/libnss_recd.so.2: $(NSS_SOURCES) | $(BUILD)
	$(CC) $(CFLAGS_MODULE) $(LDFLAGS_MODULE) -Wl,-soname,libnss_recd.so.2 -o $@ $(filter %.c,$(NSS_SOURCES))

$(BUILD)/pam_recd.so: $(PAM_SOURCES) | $(BUILD)
	$(CC) $(CFLAGS_MODULE) $(LDFLAGS_MODULE) -o $@ $(filter %.c,$(PAM_SOURCES)) -lpam

# Debian/Ubuntu packages the build and the test host need (real sshd, journald, tlog, libpam…).
DEB_DEPS := build-essential gcc clang libclang-rt-dev libpam0g-dev openssh-server openssh-client tlog \
            systemd systemd-journal-remote iproute2 util-linux procps passwd valgrind \
            binutils dbus asciinema bsdutils libpam-runtime sudo
RPM_DEPS := gcc clang pam-devel openssh-server openssh-clients tlog systemd iproute \
            util-linux procps-ng shadow-utils valgrind binutils dbus sudo
# make selinux, make rpm, make deb (packaging/, selinux/).
DEB_DEPS += selinux-policy-dev checkpolicy semodule-utils rpm dpkg-dev
RPM_DEPS += selinux-policy-devel checkpolicy rpm-build

deps:
	@set -e; \
	if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(DEB_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "make deps: installing $$missing"; \
	    apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "make deps: all Debian packages present"; fi; \
	elif command -v dnf >/dev/null; then dnf install -y $(RPM_DEPS); \
	elif command -v yum >/dev/null; then yum install -y epel-release && yum install -y $(RPM_DEPS); \
	else echo "make deps: no apt-get, dnf or yum; install by hand: $(DEB_DEPS)" >&2; exit 1; fi
	@command -v $(GO) >/dev/null || { echo "make deps: Go toolchain not found (need Go >= 1.22 in PATH)" >&2; exit 1; }
	$(GO) mod download

# Unit tests, bounded fuzzing and the integration suite. Integration tests need root;
# without it they skip with one line saying so.
test: all test-unit test-fuzz test-c test-integration test-demo test-load-short

# The short soak of tests/load (20 recorded ssh sessions for 30 s, recd killed once):
# on its own, after the integration suite, so that the two do not share 2 cores.
.PHONY: test-load-short
test-load-short: all
	RECD_LOAD_SHORT=1 $(GO) test -count=1 -timeout 6m -run '^TestShortSoak$$' -v ./tests/load/

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/... ./recd/... ./ctl/...

# Each parser of untrusted input gets a bounded fuzz run (FUZZTIME each).
FUZZ_TARGETS := $(shell grep -l '^func Fuzz' $$(find internal recd ctl -name '*_test.go' 2>/dev/null) 2>/dev/null)
test-fuzz:
	@set -e; for f in $(FUZZ_TARGETS); do \
	  dir=$$(dirname $$f); \
	  for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "fuzz $$dir $$fn ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) ./$$dir; \
	  done; \
	done

# C module tests: ABI, stress, valgrind, symbol versions, bounded fuzzing (nss/, pam/).
# nss/tests/run.sh: real glibc NSS + libpam in a private mount namespace (root),
# valgrind, symbol versions/NODELETE, a bounded libFuzzer run of the snapshot
# reader. `sh nss/tests/run.sh soak` and `sh nss/tests/run.sh bench` are the
# long stress run and the benchmark table.
test-c: all
	GO=$(GO) CC=$(CC) FUZZ_SECONDS=20 sh nss/tests/run.sh test

test-integration: all
	$(GO) test -count=1 -timeout 12m ./tests/...

demo: all
	$(GO) run ./tests/cmd/demo

# make test runs the README's demo too, so CI shows the replayed session and the
# "try it" command cannot rot.
test-demo: demo

# Benchmarks write their figures, with the machine and the command, into BENCHMARKS.md.
bench: all
	@set -e; out=$(BUILD)/bench-nss.txt; \
	sh nss/tests/run.sh bench | tee $$out; \
	{ echo "# Benchmarks"; echo; \
	  echo "Written by \`make bench\` on $$(date -u +%Y-%m-%d); machine: $$(nproc) cores, $$(awk '/MemTotal/ {printf "%.0f GiB", $$2/1048576}' /proc/meminfo), $$(. /etc/os-release; echo $$PRETTY_NAME), $$(uname -r), glibc $$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)."; \
	  echo; echo "## NSS lookups: \`passwd: recd files\` vs \`passwd: files\`"; echo; \
	  echo "Command: \`sh nss/tests/run.sh bench\` (policy \`scope = some\`, \`groups = rec, ops\`). Targets: recorded ≤ 0.26× files (SSSD 2.8's memory cache), not recorded ≤ 1.2× files."; \
	  echo; echo '```'; cat $$out; echo '```'; } > BENCHMARKS.md; \
	lat=$(BUILD)/bench-reload.txt; \
	$(GO) test -count=1 -run 'TestReloadWhileRunning$$' -v ./tests/integration/ | grep -E 'after [0-9.]+[mµn]?s' | sed 's/^ *login_test.go:[0-9]*: //' > $$lat; \
	{ echo; echo "## Policy activation: edit → next NSS answer"; echo; \
	  echo "Command: \`go test -run TestReloadWhileRunning -v ./tests/integration/\` (test host, recd running, \`getent passwd\` polled every 5 ms). Target: 100 ms."; \
	  echo; echo '```'; cat $$lat; echo '```'; } >> BENCHMARKS.md; \
	rec=$(BUILD)/bench-recorder.txt; \
	$(GO) run ./tests/cmd/recbench > $$rec; \
	{ echo; cat $$rec; } >> BENCHMARKS.md; \
	lst=$(BUILD)/bench-list.txt; \
	$(GO) run ./tests/cmd/listbench > $$lst; \
	{ echo; cat $$lst; } >> BENCHMARKS.md; \
	echo "make bench: figures written to BENCHMARKS.md"

soak: all
	sh nss/tests/run.sh soak
	$(GO) run ./tests/cmd/soak -sessions=$(or $(N),100) -duration=$(or $(DURATION),5m) \
	  $(if $(filter 1 yes true,$(CHAOS)),-chaos) -report=$(BUILD)/soak-report$(if $(filter 1 yes true,$(CHAOS)),-chaos).md


install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PAMDIR)
	install -m 0755 $(BUILD)/recd $(DESTDIR)$(PREFIX)/sbin/recd
	install -m 0755 $(BUILD)/recd-session $(DESTDIR)$(PREFIX)/bin/recd-session
	install -m 0755 $(BUILD)/recctl $(DESTDIR)$(PREFIX)/bin/recctl
	install -m 0644 $(BUILD)/libnss_recd.so.2 $(DESTDIR)$(LIBDIR)/libnss_recd.so.2
	install -m 0644 $(BUILD)/pam_recd.so $(DESTDIR)$(PAMDIR)/pam_recd.so
	install -d $(DESTDIR)$(PREFIX)/libexec/recd
	install -m 0755 $(BUILD)/recd-pam-test $(DESTDIR)$(PREFIX)/libexec/recd/recd-pam-test
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/recd $(DESTDIR)$(SYSCONFDIR)/recd/conf.d
	test -e $(DESTDIR)$(SYSCONFDIR)/recd/recd.conf || install -m 0644 etc/recd.conf $(DESTDIR)$(SYSCONFDIR)/recd/recd.conf
	install -d -m 0755 $(DESTDIR)/var/lib/recd
	if [ -f /etc/debian_version ]; then install -D -m 0644 etc/pam-configs/recd $(DESTDIR)$(PREFIX)/share/pam-configs/recd; fi
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 nss/libnss_recd.8 pam/pam_recd.8 man/recd.8 man/recctl.8 man/recd-session.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/recd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 etc/bash-completion/recctl $(DESTDIR)$(BASHCOMPDIR)/recctl

clean:
	rm -rf $(BUILD)

# --- Units, D-Bus policy, SELinux module and packages (etc/, selinux/, packaging/) ---

RECD_VERSION ?= 0.1.0
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DBUSDIR     ?= $(PREFIX)/share/dbus-1
# The sandboxing drop-ins etc/systemd/recd.service.d/NN-hardening-vV.conf are installed
# only when systemd is at least V (here: the systemctl of the installing host; packages
# pass it). Unknown (no systemctl): all are installed.
SYSTEMD_VERSION ?= $(shell systemctl --version 2>/dev/null | awk 'NR==1 {print $$2+0}')

.PHONY: install-system selinux rpm deb test-systemd-units

install: install-system
test-unit: test-systemd-units

install-system:
	install -d $(DESTDIR)$(UNITDIR)/recd.service.d $(DESTDIR)$(TMPFILESDIR) \
	  $(DESTDIR)$(DBUSDIR)/system.d $(DESTDIR)$(DBUSDIR)/interfaces
	install -m 0644 etc/systemd/recd.service etc/systemd/recd.socket $(DESTDIR)$(UNITDIR)/
	@set -e; for f in etc/systemd/recd.service.d/*-hardening-v*.conf; do \
	  v=$${f##*-v}; v=$${v%.conf}; \
	  if [ -z "$(SYSTEMD_VERSION)" ] || [ "$(SYSTEMD_VERSION)" -ge "$$v" ]; then \
	    echo "install -m 0644 $$f $(DESTDIR)$(UNITDIR)/recd.service.d/"; \
	    install -m 0644 $$f $(DESTDIR)$(UNITDIR)/recd.service.d/; \
	  else echo "install-system: systemd $(SYSTEMD_VERSION) < $$v: $$f not installed"; fi; \
	done
	install -m 0644 etc/tmpfiles.d/recd.conf $(DESTDIR)$(TMPFILESDIR)/recd.conf
	install -m 0644 etc/dbus-1/system.d/dev.recd.Recd1.conf $(DESTDIR)$(DBUSDIR)/system.d/dev.recd.Recd1.conf
	install -m 0644 etc/dbus-1/interfaces/dev.recd.Recd1.xml $(DESTDIR)$(DBUSDIR)/interfaces/dev.recd.Recd1.xml

# Every directive of the units against systemd 219's list (etc/systemd/testdata).
test-systemd-units:
	$(GO) test -count=1 ./etc/systemd/

selinux:
	$(MAKE) -C selinux

rpm: selinux
	GO=$(GO) sh packaging/rpm/build-rpm.sh $(RECD_VERSION) $(BUILD)

deb: all selinux
	sh packaging/deb/build-deb.sh $(RECD_VERSION) $(BUILD)
