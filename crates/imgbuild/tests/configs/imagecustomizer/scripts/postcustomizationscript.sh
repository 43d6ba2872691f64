echo "A post customization script"
echo "Working dir: $(pwd)"
