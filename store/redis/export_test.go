package redis

// SetWatchHook makes WatchRevocations pass the Redis client ID of its
// connection to f, so that a test can kill that connection.
func SetWatchHook(h *Hot, f func(clientID int64)) { h.watchHook = f }
