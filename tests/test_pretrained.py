import argparse

import pytest
import torch

from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.checkpoints import load_state_dict
from edge_mobilenet.pretrained import imagenet_class_names, imagenet_mobilenet_v2
from tests.photos import photo


@pytest.fixture(scope="module")
def imagenet_model():
    return imagenet_mobilenet_v2()  # strict=True load of torchvision's checkpoint


def top5(model, image):
    pre = Preprocessing.for_resolution(224)
    x = torch.from_numpy(normalize(preprocess(image, pre), pre)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return model(x)[0].softmax(0).topk(5).indices.tolist()


@pytest.mark.parametrize("name,expected", [("chelsea", {"Egyptian cat", "tabby", "tiger cat"}),
                                           ("coffee", {"espresso", "cup", "coffee mug"})])
def test_imagenet_weights_classify_real_photos(imagenet_model, name, expected):
    names = imagenet_class_names()
    assert len(names) == 1000
    best = top5(imagenet_model, photo(name))
    assert names[best[0]] in expected


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": argparse.Namespace(cmd="rm -rf /")}, path)  # needs unpickling a class
    with pytest.raises(EdgembError, match="only tensor checkpoints"):
        load_state_dict(path)
