echo "A finalize customization script"
echo "Working dir: $(pwd)"
