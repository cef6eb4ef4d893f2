package postgres

// Assign and NodeID let the cluster tests predict the queues' owners.
var Assign = assign

func NodeID(s *Store) string { return s.nodeID }
