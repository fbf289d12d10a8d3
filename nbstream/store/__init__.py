"""What nbstream keeps on disk: conversation threads and the response cache."""
