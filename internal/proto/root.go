package proto

// RootSocketPath is root's own lane to recd, next to SocketPath: a socket only root can
// connect to (mode 0600), with its own listen backlog and accept loop in recd. pam_recd,
// which runs as root inside sshd, login or su, registers logins through it first, so that
// no flood of the world-connectable SocketPath by other users, however fast, can make
// root's registrations queue behind it. recd serves only root there; everything else
// works the same on both sockets, and a client that cannot use this one uses SocketPath.
const RootSocketPath = "/run/recd/root.sock"

// RootSocketName is RootSocketPath's name in recd's socket directory.
const RootSocketName = "root.sock"
