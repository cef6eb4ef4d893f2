package cloudtasks

// Page sizes of spec section 2.2 (tokens: internal/pagetoken).
const (
	maxQueuePage    = 9800
	maxTaskPage     = 1000
	maxLocationPage = 1000
)

// pageSize returns the effective page size: 0 means the maximum, larger
// values are clamped to it, negative ones are refused.
func pageSize(requested int32, maximum int) (int, error) {
	switch {
	case requested < 0:
		return 0, invalid("page_size cannot be negative.")
	case requested == 0 || int(requested) > maximum:
		return maximum, nil
	}
	return int(requested), nil
}
