// Package protofilter compiles the AIP-160 list filters of Google's List
// methods (ListQueues, ListLocations, ListExecutions, ...) into predicates
// over protobuf messages, so that one implementation serves every API.
// Errors are INVALID_ARGUMENT statuses worded as Google words them.
package protofilter
