package journalwriter

const sysMemfdCreate = 279
