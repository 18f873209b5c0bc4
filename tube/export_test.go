package tube

// QueuedEntries is how many messages or chunks c holds unread.
func QueuedEntries(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// MaxQueuedEntries is the most a Wait queues when every message is empty.
func MaxQueuedEntries(c *Conn) int { return c.bound()/queueEntryCost + 1 }
