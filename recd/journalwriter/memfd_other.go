//go:build !(linux && (amd64 || arm64))

package journalwriter

// sysMemfdCreate is 0 where recd does not know the system call number: large entries are
// then passed in a deleted file in /dev/shm.
const sysMemfdCreate = 0
