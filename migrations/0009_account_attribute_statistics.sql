-- Filters match accounts on lower(industry) and lower(region). Without statistics on those
-- expressions the planner guesses a handful of matches for any value and, for the overview
-- filtered by industry, walks the groups one index entry at a time (hundreds of milliseconds
-- for a common industry). Expression statistics need no index to maintain.
CREATE STATISTICS IF NOT EXISTS accounts_lower_industry ON (lower(industry)) FROM accounts;
CREATE STATISTICS IF NOT EXISTS accounts_lower_region ON (lower(region)) FROM accounts;
ANALYZE accounts;
