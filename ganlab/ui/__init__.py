"""The only part of ganlab that imports streamlit: shared widgets and the job-manager accessor."""
