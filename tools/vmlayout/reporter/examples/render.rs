// SPDX-License-Identifier: GPL-2.0

//! Render an SVG (from `vmlayout draw`) to PNG with resvg, as the picture
//! in Documentation/vmlayout/ was made:
//! `cargo run --release -p vmlayout --example render -- IN.svg OUT.png`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: render IN.svg OUT.png".into());
    };
    let mut opt = resvg::usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    let tree = resvg::usvg::Tree::from_data(&std::fs::read(input)?, &opt)?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty picture")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.save_png(output)?;
    Ok(())
}
