"""Class names and colour palettes of the supported benchmarks (facts of each dataset's definition)."""

from __future__ import annotations

# fmt: off
ADE20K_CLASSES = (
    "wall", "building, edifice", "sky", "floor, flooring", "tree", "ceiling", "road, route", "bed",
    "windowpane, window", "grass", "cabinet", "sidewalk, pavement",
    "person, individual, someone, somebody, mortal, soul", "earth, ground", "door, double door", "table",
    "mountain, mount", "plant, flora, plant life", "curtain, drape, drapery, mantle, pall", "chair",
    "car, auto, automobile, machine, motorcar", "water", "painting, picture", "sofa, couch, lounge", "shelf",
    "house", "sea", "mirror", "rug, carpet, carpeting", "field", "armchair", "seat", "fence, fencing", "desk",
    "rock, stone", "wardrobe, closet, press", "lamp", "bathtub, bathing tub, bath, tub", "railing, rail",
    "cushion", "base, pedestal, stand", "box", "column, pillar", "signboard, sign",
    "chest of drawers, chest, bureau, dresser", "counter", "sand", "sink", "skyscraper",
    "fireplace, hearth, open fireplace", "refrigerator, icebox", "grandstand, covered stand", "path",
    "stairs, steps", "runway", "case, display case, showcase, vitrine",
    "pool table, billiard table, snooker table", "pillow", "screen door, screen", "stairway, staircase",
    "river", "bridge, span", "bookcase", "blind, screen", "coffee table, cocktail table",
    "toilet, can, commode, crapper, pot, potty, stool, throne", "flower", "book", "hill", "bench", "countertop",
    "stove, kitchen stove, range, kitchen range, cooking stove", "palm, palm tree", "kitchen island",
    "computer, computing machine, computing device, data processor, electronic computer, information processing system",
    "swivel chair", "boat", "bar", "arcade machine", "hovel, hut, hutch, shack, shanty",
    "bus, autobus, coach, charabanc, double-decker, jitney, motorbus, motorcoach, omnibus, passenger vehicle",
    "towel", "light, light source", "truck, motortruck", "tower", "chandelier, pendant, pendent",
    "awning, sunshade, sunblind", "streetlight, street lamp", "booth, cubicle, stall, kiosk",
    "television receiver, television, television set, tv, tv set, idiot box, boob tube, telly, goggle box",
    "airplane, aeroplane, plane", "dirt track", "apparel, wearing apparel, dress, clothes", "pole",
    "land, ground, soil", "bannister, banister, balustrade, balusters, handrail",
    "escalator, moving staircase, moving stairway", "ottoman, pouf, pouffe, puff, hassock", "bottle",
    "buffet, counter, sideboard", "poster, posting, placard, notice, bill, card", "stage", "van", "ship",
    "fountain", "conveyer belt, conveyor belt, conveyer, conveyor, transporter", "canopy",
    "washer, automatic washer, washing machine", "plaything, toy", "swimming pool, swimming bath, natatorium",
    "stool", "barrel, cask", "basket, handbasket", "waterfall, falls", "tent, collapsible shelter", "bag",
    "minibike, motorbike", "cradle", "oven", "ball", "food, solid food", "step, stair", "tank, storage tank",
    "trade name, brand name, brand, marque", "microwave, microwave oven", "pot, flowerpot",
    "animal, animate being, beast, brute, creature, fauna", "bicycle, bike, wheel, cycle", "lake",
    "dishwasher, dish washer, dishwashing machine", "screen, silver screen, projection screen",
    "blanket, cover", "sculpture", "hood, exhaust hood", "sconce", "vase",
    "traffic light, traffic signal, stoplight", "tray",
    "ashcan, trash can, garbage can, wastebin, ash bin, ash-bin, ashbin, dustbin, trash barrel, trash bin",
    "fan", "pier, wharf, wharfage, dock", "crt screen", "plate", "monitor, monitoring device",
    "bulletin board, notice board", "shower", "radiator", "glass, drinking glass", "clock", "flag",
)
ADE20K_PALETTE = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255),
)
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic_light", "traffic_sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
VOC_CLASSES = (
    "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOC_PALETTE = (
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
    (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
    (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 192, 0), (0, 64, 128),
)
PASCAL_CONTEXT_CLASSES = (
    "__background__", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup",
    "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard",
    "light", "motorbike", "mountain", "mouse", "person", "plate", "platform", "pottedplant", "road", "rock",
    "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck",
    "tvmonitor", "wall", "water", "window", "wood",
)
PASCAL_CONTEXT_PALETTE = ADE20K_PALETTE[:60]  # the same colour list
PASCAL_CONTEXT59_CLASSES = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle", "building",
    "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain", "dog",
    "door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light", "motorbike",
    "mountain", "mouse", "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves",
    "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall",
    "water", "window", "wood",
)
PASCAL_CONTEXT59_PALETTE = ADE20K_PALETTE[1:60]  # the same colour list, shifted
LIP_CLASSES = (
    "__background__", "hat", "hair", "glove", "sunglasses", "upperclothes", "dress", "coat", "socks", "pants",
    "jumpsuits", "scarf", "skirt", "face", "leftArm", "rightArm", "leftLeg", "rightLeg", "leftShoe",
    "rightShoe",
)
LIP_PALETTE = (
    (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85), (0, 119, 221),
    (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 255), (51, 170, 221),
    (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0), (255, 170, 0),
)
CIHP_CLASSES = (
    "__background__", "hat", "hair", "glove", "sunglasses", "upperclothes", "dress", "coat", "socks", "pants",
    "torsoSkin", "scarf", "skirt", "face", "leftArm", "rightArm", "leftLeg", "rightLeg", "leftShoe",
    "rightShoe",
)
CIHP_PALETTE = LIP_PALETTE  # the same colours; CIHP names class 10 differently
COCOSTUFF_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror",
    "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner", "blanket", "branch", "bridge",
    "building-other", "bush", "cabinet", "cage", "cardboard", "carpet", "ceiling-other", "ceiling-tile",
    "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence",
    "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other",
    "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves", "light", "mat",
    "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow",
    "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river", "road", "rock",
    "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs",
    "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood",
    "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
COCOSTUFF_PALETTE = (
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
    (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
    (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 192, 0), (0, 64, 128),
    (128, 64, 128), (0, 192, 128), (128, 192, 128), (64, 64, 0), (192, 64, 0), (64, 192, 0), (192, 192, 0),
    (64, 64, 128), (192, 64, 128), (64, 192, 128), (192, 192, 128), (0, 0, 64), (128, 0, 64), (0, 128, 64),
    (128, 128, 64), (0, 0, 192), (128, 0, 192), (0, 128, 192), (128, 128, 192), (64, 0, 64), (192, 0, 64),
    (64, 128, 64), (192, 128, 64), (64, 0, 192), (192, 0, 192), (64, 128, 192), (192, 128, 192), (0, 64, 64),
    (128, 64, 64), (0, 192, 64), (128, 192, 64), (0, 64, 192), (128, 64, 192), (0, 192, 192), (128, 192, 192),
    (64, 64, 64), (192, 64, 64), (64, 192, 64), (192, 192, 64), (64, 64, 192), (192, 64, 192), (64, 192, 192),
    (192, 192, 192), (32, 0, 0), (160, 0, 0), (32, 128, 0), (160, 128, 0), (32, 0, 128), (160, 0, 128),
    (32, 128, 128), (160, 128, 128), (96, 0, 0), (224, 0, 0), (96, 128, 0), (224, 128, 0), (96, 0, 128),
    (224, 0, 128), (96, 128, 128), (224, 128, 128), (32, 64, 0), (160, 64, 0), (32, 192, 0), (160, 192, 0),
    (32, 64, 128), (160, 64, 128), (32, 192, 128), (160, 192, 128), (96, 64, 0), (224, 64, 0), (96, 192, 0),
    (224, 192, 0), (96, 64, 128), (224, 64, 128), (96, 192, 128), (224, 192, 128), (32, 0, 64), (160, 0, 64),
    (32, 128, 64), (160, 128, 64), (32, 0, 192), (160, 0, 192), (32, 128, 192), (160, 128, 192), (96, 0, 64),
    (224, 0, 64), (96, 128, 64), (224, 128, 64), (96, 0, 192), (224, 0, 192), (96, 128, 192), (224, 128, 192),
    (32, 64, 64), (160, 64, 64), (32, 192, 64), (160, 192, 64), (32, 64, 192), (160, 64, 192), (32, 192, 192),
    (160, 192, 192), (96, 64, 64), (224, 64, 64), (96, 192, 64), (224, 192, 64), (96, 64, 192), (224, 64, 192),
    (96, 192, 192), (224, 192, 192), (0, 32, 0), (128, 32, 0), (0, 160, 0), (128, 160, 0), (0, 32, 128),
    (128, 32, 128), (0, 160, 128), (128, 160, 128), (64, 32, 0), (192, 32, 0), (64, 160, 0), (192, 160, 0),
    (64, 32, 128), (192, 32, 128), (64, 160, 128), (192, 160, 128), (0, 96, 0), (128, 96, 0), (0, 224, 0),
    (128, 224, 0), (0, 96, 128), (128, 96, 128), (0, 224, 128), (128, 224, 128), (64, 96, 0), (192, 96, 0),
    (64, 224, 0), (192, 224, 0), (64, 96, 128), (192, 96, 128), (64, 224, 128), (192, 224, 128), (0, 32, 64),
    (128, 32, 64), (0, 160, 64), (128, 160, 64), (0, 32, 192), (128, 32, 192), (0, 160, 192), (128, 160, 192),
    (64, 32, 64), (192, 32, 64), (64, 160, 64), (192, 160, 64), (64, 32, 192), (192, 32, 192), (64, 160, 192),
    (192, 160, 192), (0, 96, 64), (128, 96, 64), (0, 224, 64), (128, 224, 64), (0, 96, 192), (128, 96, 192),
)
# COCO-Stuff-164k as mmsegmentation's converter writes it (``*_labelTrainIds.png``): the 182 ids without
# the 11 thing ids COCO never annotated, renumbered 0..170; mmsegmentation's palette for them.
COCOSTUFF_UNANNOTATED = ("street sign", "hat", "shoe", "eye glasses", "plate", "mirror", "window", "desk", "door",
                         "blender", "hair brush")
COCOSTUFF171_CLASSES = tuple(name for name in COCOSTUFF_CLASSES if name not in COCOSTUFF_UNANNOTATED)
COCOSTUFF171_PALETTE = (
    (0, 192, 64), (0, 192, 64), (0, 64, 96), (128, 192, 192), (0, 64, 64), (0, 192, 224), (0, 192, 192), (128, 192,
    64), (0, 192, 96), (128, 192, 64), (128, 32, 192), (0, 0, 224), (0, 0, 64), (0, 160, 192), (128, 0, 96), (128,
    0, 192), (0, 32, 192), (128, 128, 224), (0, 0, 192), (128, 160, 192), (128, 128, 0), (128, 0, 32), (128, 32, 0),
    (128, 0, 128), (64, 128, 32), (0, 160, 0), (0, 0, 0), (192, 128, 160), (0, 32, 0), (0, 128, 128), (64, 128,
    160), (128, 160, 0), (0, 128, 0), (192, 128, 32), (128, 96, 128), (0, 0, 128), (64, 0, 32), (0, 224, 128), (128,
    0, 0), (192, 0, 160), (0, 96, 128), (128, 128, 128), (64, 0, 160), (128, 224, 128), (128, 128, 64), (192, 0,
    32), (128, 96, 0), (128, 0, 192), (0, 128, 32), (64, 224, 0), (0, 0, 64), (128, 128, 160), (64, 96, 0), (0, 128,
    192), (0, 128, 160), (192, 224, 0), (0, 128, 64), (128, 128, 32), (192, 32, 128), (0, 64, 192), (0, 0, 32), (64,
    160, 128), (128, 64, 64), (128, 0, 160), (64, 32, 128), (128, 192, 192), (0, 0, 160), (192, 160, 128), (128,
    192, 0), (128, 0, 96), (192, 32, 0), (128, 64, 128), (64, 128, 96), (64, 160, 0), (0, 64, 0), (192, 128, 224),
    (64, 32, 0), (0, 192, 128), (64, 128, 224), (192, 160, 0), (0, 192, 0), (192, 128, 96), (192, 96, 128), (0, 64,
    128), (64, 0, 96), (64, 224, 128), (128, 64, 0), (192, 0, 224), (64, 96, 128), (128, 192, 128), (64, 0, 224),
    (192, 224, 128), (128, 192, 64), (192, 0, 96), (192, 96, 0), (128, 64, 192), (0, 128, 96), (0, 224, 0), (64, 64,
    64), (128, 128, 224), (0, 96, 0), (64, 192, 192), (0, 128, 224), (128, 224, 0), (64, 192, 64), (128, 128, 96),
    (128, 32, 128), (64, 0, 192), (0, 64, 96), (0, 160, 128), (192, 0, 64), (128, 64, 224), (0, 32, 128), (192, 128,
    192), (0, 64, 224), (128, 160, 128), (192, 128, 0), (128, 64, 32), (128, 32, 64), (192, 0, 128), (64, 192, 32),
    (0, 160, 64), (64, 0, 0), (192, 192, 160), (0, 32, 64), (64, 128, 128), (64, 192, 160), (128, 160, 64), (64,
    128, 0), (192, 192, 32), (128, 96, 192), (64, 0, 128), (64, 64, 32), (0, 224, 192), (192, 0, 0), (192, 64, 160),
    (0, 96, 192), (192, 128, 128), (64, 64, 160), (128, 224, 192), (192, 128, 64), (192, 64, 32), (128, 96, 64),
    (192, 0, 192), (0, 192, 32), (64, 224, 64), (64, 0, 64), (128, 192, 160), (64, 96, 64), (64, 128, 192), (0, 192,
    160), (192, 224, 64), (64, 128, 64), (128, 192, 32), (192, 32, 192), (64, 64, 192), (0, 64, 32), (64, 160, 192),
    (192, 64, 64), (128, 64, 160), (64, 32, 192), (192, 192, 192), (0, 64, 160), (192, 160, 192), (192, 192, 0),
    (128, 64, 96), (192, 32, 64), (192, 64, 128), (64, 192, 96), (64, 160, 64), (64, 64, 0),
)
# Cityscapes labelId → trainId (255: not evaluated), from the official label table.
CITYSCAPES_LABEL_TO_TRAIN = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255, 11: 2, 12: 3, 13: 4,
    14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13,
    27: 14, 28: 15, 29: 255, 30: 255, 31: 16, 32: 17, 33: 18,
}
# fmt: on

# Human parsing: left/right class pairs swapped by a horizontal flip (LIP and CIHP share the classes).
LIP_FLIP_PAIRS = ((14, 15), (16, 17), (18, 19))
CIHP_FLIP_PAIRS = LIP_FLIP_PAIRS
