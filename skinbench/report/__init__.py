"""The paper's tables and plots, from result folders."""
