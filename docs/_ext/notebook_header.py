"""Put at the top of every notebook page how to open it in JupyterLab and how to re-run it."""

import papermill
from docutils import nodes


def _header(name, parameters):
    command = f"papermill notebooks/{name}.ipynb build/{name}.ipynb --cwd notebooks"
    text = (
        f"Open it locally: `make lab`, then `notebooks/{name}.ipynb` (JupyterLab on http://localhost:8888). "
        f"Re-run it with papermill: `{command}`"
        + (
            " — its defaults are the run shown here; its parameters cell lists what else can change"
            " (`-p name value`)."
            if parameters
            else "."
        )
    )
    note = nodes.admonition(classes=["note", "notebook-header"])
    note += nodes.title(text="This page is a notebook")
    paragraph = nodes.paragraph()
    for i, piece in enumerate(text.split("`")):
        paragraph += nodes.literal(text=piece) if i % 2 else nodes.Text(piece)
    note += paragraph
    return note


def add_header(app, doctree):
    docname, path = app.env.docname, app.env.doc2path(app.env.docname)
    if path.suffix != ".ipynb":
        return
    parameters = papermill.inspect_notebook(str(path))
    sections = list(doctree.findall(nodes.section))
    if sections:
        title = sections[0].next_node(nodes.title)
        sections[0].insert(sections[0].index(title) + 1, _header(docname.rsplit("/", 1)[-1], parameters))


def setup(app):
    app.connect("doctree-read", add_header)
    return {"parallel_read_safe": True}
